import ArgumentParser
import Foundation
import SweepCore
import SweepLedger
import SweepReport

struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Put one row of a table beside others: differences paired by seed and whether they exceed the noise.",
        discussion: """
            --row and every --against are labels of rows of one table of the manifest. For each \
            column (each task's metric, Δm, parameter counts) the difference row − baseline is taken \
            seed by seed, over the seeds both rows have, and summarised as mean ± std (n). A \
            two-sided paired t-test at 95 % says whether the mean difference exceeds the spread over \
            seeds; with one seed there is no spread, and the verdict says it cannot tell. The \
            parameter columns show whether the budgets match. Nothing is run: the numbers come from \
            the ledger, as for `sweep report`.

            Examples:
              sweep compare experiments/ablation.yaml --row "FAAR (1+2)" --against high
              sweep compare experiments/main.yaml --row FAAR \\
                --against MTLoRA --against TGLoRA      # several baselines
              sweep compare experiments/main.yaml --row FAAR \\
                --against MTLoRA --out faar-vs-mtlora.md
            """
    )

    @OptionGroup var manifest: ManifestArguments
    @OptionGroup var workspace: WorkspaceOption

    @Option(help: ArgumentHelp("The row to compare (a row label of the table).", valueName: "row"))
    var row: String

    @Option(name: .customLong("against"), help: ArgumentHelp("A baseline row; repeat for several.", valueName: "row"))
    var baselines: [String]

    @Option(help: ArgumentHelp("The table holding the rows (default: the only table that has them all).", valueName: "name"))
    var table: String?

    @Option(help: ArgumentHelp("Also write the comparison (Markdown) to this file.", valueName: "file"))
    var out: String?

    func validate() throws {
        guard !baselines.isEmpty else { throw ValidationError("name at least one baseline with --against ROW") }
    }

    func run() async throws {
        let plan = try ManifestInput(manifest).plan()
        let spec = try chooseTable(plan.tables)
        guard let ledger = try Ledger.existing(workspace: workspace.value) else {
            throw ValidationError("no ledger at \(workspace.value.ledger.path): run `sweep run \(manifest.file)` first")
        }
        let records = try ledger.records(spec.rows.flatMap(\.runs))
        var text = "# \(spec.title)\n"
        do {
            let computed = try Table(spec: spec, plan: plan, records: records)
            for baseline in baselines {
                text += "\n" + (try computed.compare(row, with: baseline).markdown)
            }
        } catch let error as ReportError {
            throw ValidationError(error.description)
        }
        print(text, terminator: "")
        if let out {
            try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            print("wrote \(out)")
        }
    }

    /// The named table, or the only one whose rows include every label asked for.
    private func chooseTable(_ tables: [TableSpec]) throws -> TableSpec {
        let labels = [row] + baselines
        if let table {
            guard let found = tables.first(where: { $0.name == table }) else {
                throw ValidationError("\(manifest.file) has no table '\(table)'; its tables: "
                                      + tables.map(\.name).joined(separator: ", "))
            }
            return found
        }
        let holding = tables.filter { spec in labels.allSatisfy { label in spec.rows.contains { $0.label == label } } }
        switch holding.count {
        case 1:
            return holding[0]
        case 0:
            let rows = tables.map { "\($0.name): " + $0.rows.map(\.label).joined(separator: ", ") }
            throw ValidationError("no table of \(manifest.file) has rows " + labels.map { "'\($0)'" }.joined(separator: ", ")
                                  + "; the rows are\n  " + rows.joined(separator: "\n  "))
        default:
            throw ValidationError("several tables hold these rows (" + holding.map(\.name).joined(separator: ", ")
                                  + "); pick one with --table")
        }
    }
}
