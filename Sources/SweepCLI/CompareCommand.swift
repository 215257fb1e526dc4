import ArgumentParser
import Foundation
import RunContract
import SweepCore
import SweepLedger
import SweepManifest
import SweepReport

struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Put rows of a table beside others: differences paired by seed, corrected for the number of tests.",
        discussion: """
            --row and every --against are labels of rows of a table of the manifest. For each \
            column (each task's metric, Δm, parameter counts) the difference row − baseline is taken \
            seed by seed, over the seeds both rows have, and printed as mean ± std, its 95 % \
            confidence interval and a two-sided paired t-test. Every comparison of one call is one \
            family: the p-values are adjusted together (Holm-Bonferroni), and a difference is beyond \
            noise only when its adjusted p < 0.05 over at least 3 seeds. A difference that is the \
            same at every seed (equal parameter counts) is "identical" or "no variation", never a \
            test. The last column is the number of seeds the observed mean and spread would need \
            for 80 % power. Nothing is run: the numbers come from the ledger, as for `sweep report`.

            One --row with several --against compares it with each; several --row need as many \
            --against, paired in order (the first row with the first baseline, and so on). --table \
            is given once for all the pairs or once per pair; without it each pair is looked up in \
            the only table holding both rows.

            Examples:
              sweep compare experiments/ablation.yaml --row "FAAR (1+2)" --against high
              sweep compare experiments/main.yaml --row FAAR \\
                --against MTLoRA --against TGLoRA      # several baselines
              sweep compare experiments/ablation.yaml --row "high + TS-PD" \\
                --against high --row "FAAR (1+2)" --against high   # one family
              sweep compare experiments/main.yaml --row FAAR \\
                --against MTLoRA --out faar-vs-mtlora.md
            """
    )

    @OptionGroup var manifest: ManifestArguments
    @OptionGroup var workspace: WorkspaceOption

    @Option(name: .customLong("row"), help: ArgumentHelp("A row to compare (a row label); repeat with one --against each.",
                                                         valueName: "row"))
    var rows: [String]

    @Option(name: .customLong("against"), help: ArgumentHelp("A baseline row; repeat for several.", valueName: "row"))
    var baselines: [String]

    @Option(name: .customLong("table"),
            help: ArgumentHelp("The table holding the rows, once or once per pair (default: the only table that has them).",
                               valueName: "name"))
    var tables: [String] = []

    @Option(help: ArgumentHelp("Also write the comparison (Markdown) to this file.", valueName: "file"))
    var out: String?

    /// One comparison to make: a row, its baseline and the table asked for (nil: find it).
    struct Pair: Equatable {
        var row: String
        var baseline: String
        var table: String?
    }

    func validate() throws {
        _ = try pairs()
    }

    /// The comparisons the options ask for, in the order given.
    func pairs() throws -> [Pair] {
        guard !rows.isEmpty else { throw ValidationError("name a row to compare with --row ROW") }
        guard !baselines.isEmpty else { throw ValidationError("name at least one baseline with --against ROW") }
        let labels: [(String, String)]
        if rows.count == 1 {
            labels = baselines.map { (rows[0], $0) }
        } else {
            guard rows.count == baselines.count else {
                throw ValidationError("\(rows.count) --row need one --against each, in order; got \(baselines.count) --against")
            }
            labels = Array(zip(rows, baselines))
        }
        guard tables.count <= 1 || tables.count == labels.count else {
            throw ValidationError("give --table once for every pair or once per pair (\(labels.count)); got \(tables.count)")
        }
        return labels.enumerated().map { index, pair in
            Pair(row: pair.0, baseline: pair.1, table: tables.count > 1 ? tables[index] : tables.first)
        }
    }

    func run() async throws {
        let plan = try ManifestInput(manifest).plan()
        guard let ledger = try Ledger.existing(workspace: workspace.value) else {
            throw ValidationError("no ledger at \(workspace.value.ledger.path): run `sweep run \(manifest.file)` first")
        }
        var computed: [String: Table] = [:]
        var comparisons: [RowComparison] = []
        do {
            for pair in try pairs() {
                let spec = try chooseTable(plan.tables, for: pair)
                if computed[spec.name] == nil {
                    computed[spec.name] = try Table(spec: spec, plan: plan, records: try ledger.records(spec.rows.flatMap(\.runs)))
                }
                comparisons.append(try computed[spec.name]!.compare(pair.row, with: pair.baseline))
            }
        } catch let error as ReportError {
            throw ValidationError(error.description)
        }
        if comparisons.allSatisfy({ $0.differences.allSatisfy { $0.summary == nil } }) {
            var message = "error: the rows share no seed with results in this workspace: nothing to compare\n"
            if let hint = OtherProfileHint(input: ManifestInput(manifest)).message(ledger: ledger) { message += "  \(hint)\n" }
            FileHandle.standardError.write(Data(message.utf8))
            throw ExitCode(1)
        }
        let report = ComparisonReport(comparisons)
        let text = report.markdown
        print(text, terminator: "")
        // Also on standard error, where a reader of a long table (or of a pipe) sees it.
        for warning in report.warnings {
            FileHandle.standardError.write(Data("warning: \(warning.dropFirst("Warning: ".count))\n".utf8))
        }
        if let out {
            try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            print("wrote \(out)")
        }
    }

    /// The named table, or the only one whose rows include both labels of the pair.
    private func chooseTable(_ tables: [TableSpec], for pair: Pair) throws -> TableSpec {
        let labels = [pair.row, pair.baseline]
        if let table = pair.table {
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
            let known = tables.flatMap { $0.rows.map(\.label) }
            if let missing = labels.first(where: { !known.contains($0) }) {
                let guess = Spelling.closest(to: missing, among: known).map { "; did you mean '\($0)'?" } ?? ""
                throw ValidationError("no table of \(manifest.file) has a row '\(missing)'\(guess)\n  the rows are\n  "
                                      + rows.joined(separator: "\n  "))
            }
            throw ValidationError("no table of \(manifest.file) has rows " + labels.map { "'\($0)'" }.joined(separator: ", ")
                                  + "; the rows are\n  " + rows.joined(separator: "\n  "))
        default:
            throw ValidationError("several tables hold these rows (" + holding.map(\.name).joined(separator: ", ")
                                  + "); pick one with --table")
        }
    }
}
