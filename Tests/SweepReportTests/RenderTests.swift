import Foundation
import RunContract
import SweepCore
import Testing
@testable import SweepReport

@Suite struct EscapingTests {
    @Test func latexSpecialsAndSymbols() {
        #expect(TextEscaping.latex("a_b & 50% #1 {x} $y ~^\\") ==
                "a\\_b \\& 50\\% \\#1 \\{x\\} \\$y \\textasciitilde{}\\textasciicircum{}\\textbackslash{}")
        #expect(TextEscaping.latex("Δm (%) ↑ ± — †") == "$\\Delta$m (\\%) $\\uparrow$ $\\pm$ --- \\dag{}")
    }

    @Test func markdownCellBreakers() {
        #expect(TextEscaping.markdown("a|b *c* rho_shared `x` <br> [2]") ==
                "a\\|b \\*c\\* rho\\_shared \\`x\\` \\<br> \\[2\\]")
    }
}

@Suite struct CSVTests {
    @Test func separateFieldsAndProperQuoting() throws {
        var spec = Fixture.table()
        spec.rows[1].label = "MTLoRA, \"high\" r=64"
        spec.rows[2].note = "line one\nline two"
        let table = try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records)
        let lines = try TableCSV.text(of: table).components(separatedBy: "\n")
        #expect(lines[0] == "row,paper_only,reference,semseg.mean,semseg.std,semseg.n,semseg.best,semseg.paper,"
            + "normals.mean,normals.std,normals.n,normals.best,normals.paper,"
            + "delta_m.mean,delta_m.std,delta_m.n,delta_m.best,delta_m.paper,"
            + "params.trainable.mean,params.trainable.std,params.trainable.n,params.trainable.best,note")
        // Two seeds cannot put FAAR beyond noise from MTLoRA: both are bold (best), parameters never.
        #expect(lines[2] == "\"MTLoRA, \"\"high\"\" r=64\",false,false,63.44,5.18,2,true,67.90,"
            + "18.43,1.88,2,true,16.60,3.50,9.19,2,true,2.55,2.00,0.00,2,false,")
        #expect(lines[3].hasPrefix("FAAR_1+2,false,false,64.05,,1,true,72.02,"))
        #expect(lines[3].hasSuffix(",1.23,,1,false,\"line one"))
        #expect(lines[4] == "line two\"")
        #expect(lines[5] == "DiTASK,true,false,,,0,false,69.50,,,0,false,,,,0,false,3.10,,,0,false,")
    }
}

@Suite struct RenderTests {
    func rendered(_ spec: TableSpec, records: [RunID: RunRecord] = Fixture.records) throws -> [String: String] {
        let reporter = Reporter(templates: Fixture.templates)
        let table = try Table(spec: spec, plan: Fixture.demoPlan, records: records)
        return Dictionary(uniqueKeysWithValues: try reporter.render(table, plan: "demo",
                                                                     library: reporter.loadTemplates()))
    }

    @Test func markdownMarksBestMissingAndPaperOnly() throws {
        var records = Fixture.records
        records[Fixture.id("mt-0")] = nil
        records[Fixture.id("mt-1")] = nil
        let markdown = try rendered(Fixture.table(), records: records)["md"]!
        #expect(markdown.contains("| Method | SemSeg ↑ | SemSeg (paper) | Normals ↓ | Normals (paper) |"))
        #expect(markdown.contains("| MTLoRA (r=64) | — | 67.90 | — | 16.60 | — | +2.55 | — |"))
        #expect(markdown.contains("| FAAR\\_1+2 | **64.05** (n=1) | 72.02 |"))
        #expect(markdown.contains("| DiTASK † |  | 69.50 |  |  |  | +3.10 |  |"))
    }

    @Test func latexEscapesLabelsAndBoldsInMath() throws {
        let latex = try rendered(Fixture.table())["tex"]!
        #expect(latex.contains("\\caption{Ablation on PASCAL\\_Context (ours \\& paper)}"))
        #expect(latex.contains("FAAR\\_1+2 & $\\mathbf{64.05}$ (n=1) & $72.02$"))
        #expect(latex.contains("DiTASK$^\\dagger$ &  & $69.50$"))
    }

    @Test func publishedValuesAreQuotedAsThePaperPrintsThem() throws {
        var spec = Fixture.table()
        spec.rows[3].paper = ["semseg": PublishedValue(69.5, decimals: 1), "delta_m": PublishedValue(3.1, decimals: 1),
                              "normals": PublishedValue(17, decimals: 0, approximate: true)]
        let files = try rendered(spec)
        #expect(files["md"]!.contains("| DiTASK † |  | 69.5 |  | ≈ 17 |  | +3.1 |  |"))
        #expect(files["tex"]!.contains("DiTASK$^\\dagger$ &  & $69.5$ &  & $\\approx 17$ &  & $+3.1$ &  \\\\"))
        // The CSV keeps the paper's digits but not its "≈": the field is a number.
        let csv = try TableCSV.text(of: try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records))
        #expect(csv.contains("DiTASK,true,false,,,0,false,69.5,,,0,false,17,,,0,false,3.1,"), "\(csv)")
    }

    @Test func singleInferenceIsAMarkFromTheRunsOrThePaper() throws {
        var spec = Fixture.table()
        spec.columns.append(ColumnSpec(key: "single_inference", header: "Single inf. (all tasks)"))
        spec.rows[3].paper["single_inference"] = PublishedValue(1, decimals: 0)
        let table = try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records)
        // One run per task and seed: one model per task. The paper's value goes in its own row, not a column.
        #expect(table.rows.map { $0.cells[4].measured?.mean } == [0, 1, 1, nil])
        #expect(!table.columns[4].hasPaper && table.columns[4].direction == nil)
        let files = try rendered(spec)
        #expect(files["md"]!.contains("| Method | SemSeg ↑ | SemSeg (paper) | Normals ↓ | Normals (paper) | Δm (%) ↑ | Δm (%) (paper) | Params (M) | Single inf. (all tasks) |"))
        #expect(files["md"]!.contains("| 3.00 | ✕ |") && files["md"]!.contains("| 2.00 | ✓ |"))
        #expect(files["md"]!.contains("| 1.23 (n=1) | ✓ |") && files["md"]!.contains("| +3.10 |  | ✓ |"))
        #expect(files["md"]!.contains("Single inf. (all tasks): ✓ one model gives every task in one pass, ✕ one model per task."))
        // Marks stay outside math mode in LaTeX.
        #expect(files["tex"]!.contains("& $3.00$ & $\\times$ \\\\"))
        #expect(files["tex"]!.contains("& $2.00$ & $\\surd$ \\\\"))
    }

    /// TGLoRA Table 3 / MTLoRA supplementary Table 3: the rows placed in the paper's grid.
    @Test func gridLayoutPlacesEachRowInItsCell() throws {
        var spec = Fixture.table(layout: "grid")
        spec.columns = [spec.columns[0], spec.columns[3]]
        let places = [("1 task", "individual"), ("2 tasks", "shared"), ("1 task", "shared"), ("2 tasks", "individual")]
        for (index, place) in places.enumerated() {
            spec.rows[index].gridPosition = GridPosition(line: place.0, column: place.1)
        }
        let files = try rendered(spec)
        let markdown = files["md"]!
        // One grid per column; the paper column follows each grid column where the measure has published values.
        #expect(markdown.contains("""
            | SemSeg ↑ | individual | individual (paper) | shared | shared (paper) |
            |:--|--:|--:|--:|--:|
            | 1 task | **61.00** ± 1.41 | 67.21 | **64.05** (n=1) | 72.02 |
            | 2 tasks |  | 69.50 | **63.44** ± 5.18 | 67.90 |
            """), "\(markdown)")
        #expect(markdown.contains("""
            | Params (M) | individual | shared |
            |:--|--:|--:|
            | 1 task | 3.00 | 1.23 (n=1) |
            | 2 tasks |  | 2.00 |
            """), "\(markdown)")
        #expect(markdown.contains("Runs: 7 of 8 succeeded"))
        let latex = files["tex"]!
        #expect(latex.contains("SemSeg $\\uparrow$ & individual & individual (paper) & shared & shared (paper) \\\\"))
        #expect(latex.contains("2 tasks &  & $69.50$ & $\\mathbf{63.44} \\pm 5.18$ & $67.90$ \\\\"), "\(latex)")
        #expect(latex.components(separatedBy: "\\begin{tabular}").count == 3)
    }

    @Test func unknownLayoutNamesTheTemplateAndTheLayoutsThereAre() throws {
        var spec = Fixture.table()
        spec.layout = "mosaic"
        #expect {
            _ = try rendered(spec)
        } throws: { error in
            let message = "\(error)"
            return message.contains("layout 'mosaic' needs the template") && message.contains("mosaic.md.mustache")
                && message.hasSuffix("available layouts: grid, rows, transposed")
        }
    }

    @Test func checkingTemplatesFindsALayoutWithoutThemBeforeAnythingRuns() throws {
        try Reporter(templates: Fixture.templates).checkTemplates(for: Fixture.demoPlan)
        let plan = Fixture.plan(tables: [Fixture.table(layout: "mosaic")], seeds: Fixture.seeds)
        #expect {
            try Reporter(templates: Fixture.templates).checkTemplates(for: plan)
        } throws: { error in
            guard case .missingTemplate(_, "mosaic", let file, let available)? = error as? ReportError else { return false }
            return file.hasSuffix("Templates/mosaic.md.mustache") && available == ["grid", "rows", "transposed"]
        }
    }

    @Test func aMissingTemplatesFolderIsNamed() {
        let folder = URL(fileURLWithPath: "/nonexistent/Templates")
        #expect(throws: ReportError.unreadableTemplates(directory: "/nonexistent/Templates", reason: "no such directory")) {
            _ = try Reporter(templates: folder).write(plan: Fixture.demoPlan, records: [:],
                                                      to: FileManager.default.temporaryDirectory)
        }
    }

    @Test func malformedTemplateNamesFileAndLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-templates-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "line one\n{{#rows}}\n{{label}}\n{{/cells}}\n".write(
            to: folder.appendingPathComponent("rows.md.mustache"), atomically: true, encoding: .utf8)
        #expect {
            _ = try Reporter(templates: folder).loadTemplates()
        } throws: { error in
            guard case .malformedTemplate(let file, let line, _, _) = error as? ReportError else { return false }
            return file.hasSuffix("rows.md.mustache") && line == 4
        }
    }
}

/// The files `sweep report` writes for a small plan, compared byte for byte with the reviewed
/// copies in Golden/. After an intended change: `SWEEP_UPDATE_GOLDEN=1 swift test --filter
/// SweepReportTests`, then read the diff before committing it.
@Suite struct GoldenTests {
    static let goldenSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden")

    @Test func writtenFilesMatchTheGoldenCopies() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-report-\(getpid())")
        defer { try? FileManager.default.removeItem(at: output) }
        let written = try Reporter(templates: Fixture.templates)
            .write(plan: Fixture.demoPlan, records: Fixture.records, to: output)
        let figures = ["ranks.svg", "ranks-mtlora-r-64.svg", "ranks-faar-1-2.svg", "pareto.svg"]
        let tables: [String] = ["ablation", "locations"].flatMap { table in
            ["\(table).md", "\(table).tex", "\(table).csv"] + figures.map { "\(table)-" + $0 }
        }
        #expect(written.map(\.lastPathComponent) == tables + ["index.html"])
        #expect(written.allSatisfy { $0.deletingLastPathComponent().lastPathComponent == "demo" })

        // The page (PageTests) holds every figure inline: a golden copy would repeat them all.
        for file in written where file.pathExtension != "html" {
            try Self.expectGolden(try String(contentsOf: file, encoding: .utf8), named: file.lastPathComponent)
        }
    }

    static func expectGolden(_ text: String, named name: String,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        if ProcessInfo.processInfo.environment["SWEEP_UPDATE_GOLDEN"] == "1" {
            try text.write(to: goldenSource.appendingPathComponent(name), atomically: true, encoding: .utf8)
            return
        }
        let golden = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Golden"),
                                  "no golden copy of \(name)", sourceLocation: sourceLocation)
        #expect(text == (try String(contentsOf: golden, encoding: .utf8)), "\(name)", sourceLocation: sourceLocation)
    }

    @Test func regeneratingGivesIdenticalBytes() throws {
        let reporter = Reporter(templates: Fixture.templates)
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-report-twice-\(getpid())")
        defer { try? FileManager.default.removeItem(at: output) }
        let first = try reporter.write(plan: Fixture.demoPlan, records: Fixture.records, to: output)
            .map { try Data(contentsOf: $0) }
        let second = try reporter.write(plan: Fixture.demoPlan, records: Fixture.records, to: output)
            .map { try Data(contentsOf: $0) }
        #expect(first == second)
    }
}

@Suite struct FooterTests {
    @Test func footerMentionsOnlyWhatTheTableShows() throws {
        // Every run succeeded: no "—", no (n=k) marks, no notes.
        var records = Fixture.records
        records[Fixture.id("faar-1")] = RunRecord(id: Fixture.id("faar-1"), status: .succeeded,
                                                  metrics: records[Fixture.id("faar-0")]!.metrics)
        var spec = Fixture.table()
        spec.rows[2].note = nil
        let footer = TableView.footer(of: try Table(spec: spec, plan: Fixture.demoPlan, records: records))
        #expect(footer.first == "Mean ± sample std over 2 seeds (no ± where the seeds agree exactly).")
        #expect(!footer.contains { $0.hasPrefix("—") })
        #expect(footer.last == "Runs: 8 of 8 succeeded; engine 0.1.0, 0.1.1.")

        let partial = TableView.footer(of: try Table(spec: Fixture.table(), plan: Fixture.demoPlan,
                                                     records: Fixture.records))
        #expect(partial.first!.hasSuffix("; (n=k): a cell from k seeds."))
        #expect(partial.contains("FAAR_1+2: seed 1 failed"))
    }

    @Test func thePaperOnlyMarkSaysWhyEachRowHasNoRuns() throws {
        var spec = Fixture.table()
        spec.rows[3].paperOnlyReason = "the paper gives no rank for this count"
        var footer = TableView.footer(of: try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records))
        #expect(footer.contains("† paper only: the paper gives no rank for this count."))
        spec.rows.append(RowSpec(label: "VPT", runs: [], paper: ["semseg": 64.35], paperOnly: true))
        footer = TableView.footer(of: try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records))
        #expect(footer.contains("† paper only, the paper gives no rank for this count: DiTASK."))
        #expect(footer.contains("† paper only, the engine does not implement this row: VPT."))
    }
}

@Suite struct CaveatTests {
    /// A Trivial row (one run) and a learned row over 3 seeds: semseg far above the constant,
    /// normals within its prediction interval.
    static func table(configs: [String: JSONValue] = [:]) throws -> Table {
        let values: [String: (semseg: Double, normals: Double, seed: Int)] = [
            "trivial": (10, 40, 0), "a-0": (20, 39.5, 0), "a-1": (21, 40.5, 1), "a-2": (22, 40.2, 2),
        ]
        let runs = values.keys.sorted().map { name in
            PlannedRun(id: Fixture.id(name), group: "g", seed: values[name]!.seed,
                       config: configs[name] ?? .object(["run": .string(name)]))
        }
        var records: [RunID: RunRecord] = [:]
        for (name, value) in values {
            records[Fixture.id(name)] = RunRecord(id: Fixture.id(name), status: .succeeded, metrics: Fixture.metrics(
                ["semseg": Fixture.task(value.semseg, .higher), "normals": Fixture.task(value.normals, .lower)]))
        }
        var spec = TableSpec(name: "t", title: "t",
                             columns: [ColumnSpec(key: "semseg", header: "Sem."), ColumnSpec(key: "normals", header: "Nor")],
                             rows: [RowSpec(label: "Trivial", runs: [Fixture.id("trivial")]),
                                    RowSpec(label: "A", runs: ["a-0", "a-1", "a-2"].map(Fixture.id))])
        spec.trivialRow = "Trivial"
        return try Table(spec: spec, plan: Plan(name: "p", runs: runs, tables: [spec]), records: records)
    }

    @Test func theFooterNamesTheColumnsNoRowLiftsAboveTrivial() throws {
        let table = try Self.table()
        #expect(table.columnsAtTrivial == ["Nor"])
        #expect(TableView.footer(of: table).contains(
            "Trivial: each task's best constant prediction; no row is beyond noise above it in Nor: "
            + "that column says nothing about the methods at this scale."))
    }

    @Test func theFooterNamesTheScaleTheRunsShare() throws {
        let pascal: [String: JSONValue] = ["dataset": .string("pascal"), "backbone": .string("swin_mini")]
        var configs: [String: JSONValue] = [:]
        for name in ["a-0", "a-1"] { configs[name] = .object(pascal) }
        configs["a-2"] = .object(pascal.merging(["image_size": .int(64)]) { a, _ in a })
        // The trivial run's config (another dataset key) does not count: it learns nothing.
        configs["trivial"] = .object(["dataset": .string("nyud")])
        let footer = TableView.footer(of: try Self.table(configs: configs))
        #expect(footer.first == "Scale (the runs' configs; keys they do not set are at the engine's defaults): "
                + "dataset pascal, backbone swin_mini, image_size varies (default, 64).")
        #expect(!TableView.footer(of: try Self.table()).contains { $0.hasPrefix("Scale") })
    }
}
