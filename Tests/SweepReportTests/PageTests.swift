import Foundation
import RunContract
import SweepCore
import Testing
@testable import SweepReport

@Suite struct RunCurvesTests {
    static func end(_ epoch: Int, loss: Double, ranks: [String: Int]? = nil, metrics: [String: Double]? = nil) -> ProgressEvent {
        ProgressEvent(epoch: epoch, epochs: 3, step: 4, steps: 4, loss: loss, elapsed: Double(epoch),
                      ranks: ranks, phase: "train", metrics: metrics)
    }

    @Test func epochEndsOnlyAndTheLastLineOfAnEpochLoggedTwice() {
        let within = ProgressEvent(epoch: 1, epochs: 3, step: 2, steps: 4, loss: 9, elapsed: 1.5, phase: "train")
        let curves = RunCurves(events: [Self.end(1, loss: 2), within, Self.end(2, loss: 1.5),
                                        // resumed: epoch 2 logged again, then 3
                                        Self.end(2, loss: 1.4), Self.end(3, loss: 1)])
        #expect(curves.epochs.map(\.epoch) == [1, 2, 3])
        #expect(curves.series { $0.loss }.map(\.value) == [2, 1.4, 1])
        #expect(!curves.hasRanks && curves.tasks.isEmpty)
        #expect(RunCurves(events: [within]).isEmpty)
    }

    @Test func meanRanksLeaveOutTheAdapterThatNeverLearnsAndTaskMetricsWhereRecorded() {
        let dead = "layers.1.blocks.1.mlp.fc2.shared"
        let ranks = { (a: Int, b: Int) in ["layers.1.blocks.1.mlp.fc2.task.semseg": a, "layers.0.blocks.0.attn.qkv.shared": b, dead: 1] }
        let curves = RunCurves(events: [Self.end(1, loss: 2, ranks: ranks(8, 8), metrics: ["semseg": 10]),
                                        Self.end(2, loss: 1, ranks: ranks(4, 6))])
        #expect(curves.series { $0.meanRank }.map(\.value) == [8, 5])
        #expect(curves.hasRanks)
        #expect(curves.tasks == ["semseg"])
        #expect(curves.series { $0.metrics["semseg"] }.map(\.epoch) == [1])
    }

    @Test func sparklinesSpanTheSeriesRange() {
        #expect(Sparkline.text([3, 2, 1, 0]) == "█▆▃▁")
        #expect(Sparkline.text([5, 5]) == "▅▅")
        #expect(Sparkline.text([]) == "")
    }
}

/// The page for the demo plan, with a workspace in which some runs logged their epochs.
@Suite struct PageTests {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-page-\(UUID().uuidString)")
    var workspace: Workspace { Workspace(root: output.appendingPathComponent(".sweep")) }
    var results: URL { output.appendingPathComponent("results") }

    func writeProgress(_ run: String, _ events: [ProgressEvent]) throws {
        let directory = workspace.runDirectory(Fixture.id(run))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lines = try events.map { String(decoding: try ContractJSON.encoder().encode($0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent(RunFiles.progress),
                                                         atomically: true, encoding: .utf8)
    }

    func page() throws -> (written: [URL], html: String) {
        try writeProgress("mt-0", [RunCurvesTests.end(1, loss: 2, metrics: ["semseg": 50]),
                                   RunCurvesTests.end(2, loss: 1, metrics: ["semseg": 60])])
        try writeProgress("faar-0", [RunCurvesTests.end(1, loss: 3, ranks: ["a": 8, "b": 8]),
                                     RunCurvesTests.end(2, loss: 2, ranks: ["a": 4, "b": 6])])
        var records = Fixture.records
        records[Fixture.id("mt-0")]!.startedAt = Date(timeIntervalSince1970: 1000)
        records[Fixture.id("mt-0")]!.finishedAt = Date(timeIntervalSince1970: 1065)
        let written = try Reporter(templates: Fixture.templates)
            .write(plan: Fixture.demoPlan, records: records, to: results, workspace: workspace)
        return (written, try String(contentsOf: try #require(written.last), encoding: .utf8))
    }

    @Test func tablesFiguresRunsAndCurvesInOneSelfContainedPage() throws {
        defer { try? FileManager.default.removeItem(at: output) }
        let (written, html) = try page()
        #expect(written.last?.lastPathComponent == "index.html")
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        // Nothing loaded from elsewhere: styles, figures and script are inline.
        #expect(!html.contains("src=") && !html.contains("<link") && !html.contains("url("))
        // Both tables, through their HTML layouts: the rows one with paper columns, labels escaped.
        #expect(html.contains("<section id=\"table-ablation\">") && html.contains("<section id=\"table-locations\">"))
        #expect(html.contains("<h2>Ablation on PASCAL_Context (ours &amp; paper)</h2>"))
        #expect(html.contains("<th>ours</th><th class=\"paper\">paper</th>"))
        #expect(html.contains("<td><strong>64.05</strong> <span class=\"n\">(n=1)</span></td><td class=\"paper\">72.02</td>"))
        #expect(html.contains("<tr class=\"paper-only\"><th scope=\"row\">DiTASK †</th>"))
        // The figures inline, named by their files.
        #expect(html.contains("(<a href=\"ablation-pareto.svg\">ablation-pareto.svg</a>)"))
        #expect(html.components(separatedBy: "<svg ").count - 1 == 8 + 3)
        // Each measured row links to its runs; each run links to its directory with seed, state and time.
        #expect(html.contains("<a href=\"#runs-ablation-2\">MTLoRA (r=64)</a>"))
        #expect(html.contains("<tr data-run=\"mt-0\"><th rowspan=\"2\" id=\"runs-ablation-2\">MTLoRA (r=64)</th>"
            + "<td><a href=\"../../.sweep/runs/mt-0/\"><code>mt-0</code></a></td><td>0</td><td></td>"
            + "<td class=\"state-succeeded\">succeeded</td><td>1m05s</td></tr>"))
        // A run that never started has no directory to link.
        #expect(html.contains("<tr data-run=\"faar-1\"><td><code>faar-1</code></td><td>1</td><td></td><td class=\"state-failed\">failed</td>"))
        // Curves of the one group: loss, the semseg metric one run records, and the shrinking ranks.
        #expect(html.contains("<h3 id=\"curves-grid\">grid</h3>"))
        #expect(html.contains("2 of 8 runs have recorded epochs."))
        for title in ["Training loss per epoch", "semseg per epoch", "Average adapter rank per epoch"] {
            #expect(html.contains(">\(title)"), "\(title)")
        }
        #expect(html.contains("<g class=\"run\" data-run=\"faar-0\"><title>faar-0 · grid · seed 0 · succeeded</title>"))
    }

    @Test func withoutAWorkspaceThePageSaysWhyItHasNoCurves() throws {
        defer { try? FileManager.default.removeItem(at: output) }
        let written = try Reporter(templates: Fixture.templates).write(plan: Fixture.demoPlan, records: Fixture.records, to: results)
        let html = try String(contentsOf: try #require(written.last), encoding: .utf8)
        #expect(html.contains("No workspace was given"))
        #expect(!html.contains("<g class=\"run\"") && !html.contains("href=\"../"))
    }

    @Test func runLinksAreRelativeWhereThePageAndTheWorkspaceShareAFolder() {
        let link = { (from: String, to: String) in
            PageView.relativeLink(from: URL(fileURLWithPath: from), to: URL(fileURLWithPath: to))
        }
        #expect(link("/p/results/ablation", "/p/.sweep/runs/ab") == "../../.sweep/runs/ab/")
        #expect(link("/tmp/out/x", "/work/.sweep/runs/a b") == "file:///work/.sweep/runs/a%20b/")
    }
}
