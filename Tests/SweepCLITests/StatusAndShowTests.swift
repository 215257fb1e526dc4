import ArgumentParser
import Foundation
import RunContract
import SweepCore
import SweepLedger
import Testing
@testable import SweepCLI

@Suite struct StatusListingTests {
    @Test func listsEverySweepWithCountsAndNotes() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = pretrainAndGrid()
        try ledger.register(plan)
        try ledger.settle(plan.runs[0].id, .succeeded, metrics: metrics(epochSeconds: [1, 2]))
        try ledger.settle(plan.runs[1].id, .failed, exitCode: 3, reason: nil)
        try ledger.skip(plan.runs[2].id, reason: "needs `pretrain`, which failed")
        try ledger.settle(plan.runs[3].id, .running)
        let text = try StatusListing.workspace(ledger).text()
        #expect(text.contains("workspace \(temporary.workspace.root.path): 5 runs"))
        #expect(text.contains("ablation: 5 runs: 1 new · 1 running · 1 succeeded · 1 failed · 1 skipped"))
        let lines = text.split(separator: "\n")
        let failed = try #require(lines.first { $0.hasPrefix(plan.runs[1].id.rawValue) })
        #expect(failed.contains("failed") && failed.hasSuffix("exit 3"))
        let skipped = try #require(lines.first { $0.hasPrefix(plan.runs[2].id.rawValue) })
        #expect(skipped.hasSuffix("needs `pretrain`, which failed"))
        let running = try #require(lines.first { $0.hasPrefix(plan.runs[3].id.rawValue) })
        #expect(running.hasSuffix("pid \(getpid()) on \(Ledger.currentHost)"))
    }

    @Test func filtersByStateAndPrintsJSON() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = pretrainAndGrid()
        try ledger.register(plan)
        try ledger.settle(plan.runs[1].id, .failed, exitCode: 3)
        var listing = try StatusListing.workspace(ledger)
        listing.only = [.failed]
        let text = listing.text()
        #expect(text.contains(plan.runs[1].id.rawValue))
        #expect(!text.contains(plan.runs[0].id.rawValue))
        let document = try JSONDecoder().decode(JSONValue.self, from: Data(try listing.json().utf8))
        let sweep = try #require(document["sweeps"]?.arrayValue?.first)
        #expect(sweep["name"] == .string("ablation"))
        #expect(sweep["counts"] == .object(["new": .int(4), "failed": .int(1)]))
        #expect(sweep["runs"]?.arrayValue?.map { $0["id"] } == [.string(plan.runs[1].id.rawValue)])
        #expect(sweep["runs"]?.arrayValue?.first?["exit_code"] == .int(3))
    }

    @Test func aPlanListsRunsTheLedgerHasNotSeenAsNew() throws {
        let plan = pretrainAndGrid()
        let workspace = Workspace(root: URL(fileURLWithPath: "/nonexistent"))
        let listing = try StatusListing.plan(plan, ledger: nil, workspace: workspace)
        #expect(listing.sections.count == 1 && listing.sections[0].runs.map(\.id) == plan.runs.map(\.id))
        #expect(listing.text().contains("ablation: 5 runs: 5 new"))
    }

    @Test func anEmptyWorkspaceSaysHowToStart() {
        let listing = StatusListing(workspace: Workspace(root: URL(fileURLWithPath: "/w")), sections: [])
        #expect(listing.text() == "workspace /w: 0 runs\nnothing planned yet: `sweep run FILE` registers and runs a manifest\n")
    }
}

@Suite struct ShowTests {
    @Test func showsConfigMetricsDependenciesAndLogTails() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = pretrainAndGrid()
        try ledger.register(plan)
        try ledger.settle(plan.runs[0].id, .succeeded, metrics: metrics(epochSeconds: [1, 2]))
        let id = plan.runs[1].id
        try ledger.settle(id, .failed, exitCode: 3, stderr: "Traceback\nboom")
        let directory = temporary.workspace.runDirectory(id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try (1 ... 30).map { "line \($0)" }.joined(separator: "\n").write(
            to: directory.appendingPathComponent(RunFiles.stdout), atomically: true, encoding: .utf8)
        let details = try RunDetails(id: id, ledger: ledger, logLines: 5)
        #expect(details.stdoutTail == ["line 26", "line 27", "line 28", "line 29", "line 30"])
        let text = details.text()
        #expect(text.hasPrefix("run \(id)  grid / LORA  seed 0\n"))
        #expect(text.contains("failed (attempt 1), exit code 3"))
        #expect(text.contains("needs      pretrain -> \(plan.runs[0].id) (succeeded)"))
        #expect(text.contains("\"method\" : \"lora\""))
        #expect(text.contains("stderr (as recorded in the ledger):\n  Traceback\n  boom"))
        #expect(text.contains("stdout.log (last 5 lines):\n  line 26"))

        let pretrain = try RunDetails(id: plan.runs[0].id, ledger: ledger, logLines: 5).text()
        #expect(pretrain.contains("semseg  mIoU ↑  41.25"))
        #expect(pretrain.contains("parameters: 1.500 M trainable of 28.000 M"))
        #expect(pretrain.contains("final ranks: stage1.qkv=4"))
        #expect(pretrain.contains("artifact weights: \(temporary.workspace.runDirectory(plan.runs[0].id).path)/weights.bin"))
    }

    @Test func showsTheCurvesAsSparklinesAndAsAFigure() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = pretrainAndGrid()
        try ledger.register(plan)
        let id = plan.runs[1].id
        try ledger.settle(id, .succeeded, metrics: metrics(epochSeconds: [1, 1, 1]))
        let directory = temporary.workspace.runDirectory(id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lines = try [(3.0, 8), (2.0, 6), (1.5, 4)].enumerated().map { index, point in
            String(decoding: try ContractJSON.encoder().encode(ProgressEvent(
                epoch: index + 1, epochs: 3, step: 5, steps: 5, loss: point.0, elapsed: Double(index),
                ranks: ["stage1.qkv": point.1], phase: "train")), as: UTF8.self)
        }
        try lines.joined(separator: "\n").write(to: directory.appendingPathComponent(RunFiles.progress),
                                                atomically: true, encoding: .utf8)
        let details = try RunDetails(id: id, ledger: ledger, logLines: 0)
        #expect(details.text().contains("""
            curves (per epoch):
              loss          █▃▁  epochs 1-3  3 -> 1.5
              average rank  █▅▁  epochs 1-3  8 -> 4
            """))
        let svg = try #require(details.curvesFigure())
        #expect(svg.hasPrefix("<svg ") && svg.contains("Training curves of run \(id)"))
        #expect(svg.contains("Training loss") == false && svg.contains(">loss</text>") && svg.contains(">average rank</text>"))
    }

    @Test func jsonRoundTripsTheMetrics() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = pretrainAndGrid()
        try ledger.register(plan)
        try ledger.settle(plan.runs[0].id, .succeeded, metrics: metrics(epochSeconds: [1, 2]))
        struct Shown: Decodable { var metrics: RunMetrics; var config: JSONValue; var state: String }
        let shown = try JSONDecoder().decode(Shown.self, from: Data(
            try RunDetails(id: plan.runs[0].id, ledger: ledger, logLines: 0).json().utf8))
        #expect(shown.metrics == metrics(epochSeconds: [1, 2]))
        #expect(shown.config == plan.runs[0].config && shown.state == "succeeded")
    }

    @Test func lastLinesReadsOnlyTheEndOfLargeFiles() throws {
        let temporary = TemporaryWorkspace()
        try FileManager.default.createDirectory(at: temporary.workspace.root, withIntermediateDirectories: true)
        let file = temporary.workspace.root.appendingPathComponent("big.log")
        try (0 ..< 20_000).map { "log line number \($0)" }.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        #expect(lastLines(of: file, count: 2) == ["log line number 19998", "log line number 19999"])
        #expect(lastLines(of: file, count: 0).isEmpty)
        #expect(lastLines(of: temporary.workspace.root.appendingPathComponent("missing"), count: 3).isEmpty)
    }
}

@Suite struct TextTableTests {
    @Test func tablesPadEveryColumnButTheLast() {
        var table = TextTable(["A", "LONGER"])
        table.append(["wide cell", "x"])
        var out = ""
        table.render(into: &out)
        #expect(out == "A          LONGER\nwide cell  x\n")
    }
}
