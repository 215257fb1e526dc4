import ArgumentParser
import Foundation
import SweepCore
import SweepLedger

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a manifest's tables from the ledger, running nothing.",
        discussion: """
            Regenerates every table the manifest declares (Markdown, LaTeX, CSV) from the runs \
            recorded in the workspace's ledger. Runs without results yet show as "—". The same \
            ledger always gives byte-identical files, so regenerated tables diff cleanly.

            It also writes index.html beside the tables: one self-contained page with the \
            tables, their figures, the runs behind every row (linking to their directories) and \
            each run's training curves from its progress.jsonl. Open it from file://.

            Examples:
              sweep report experiments/ablation.yaml
              sweep report experiments/ablation.yaml --results /tmp/tables
              sweep report experiments/main.yaml seeds=[0,1,2]  # that variant's runs
              sweep report experiments/ablation.yaml --profile smoke  # ablation-smoke/
            """
    )

    @OptionGroup var manifest: ManifestArguments
    @OptionGroup var workspace: WorkspaceOption
    @OptionGroup var tables: TableOutputOptions

    func run() async throws {
        let plan = try ManifestInput(manifest).plan()
        guard !plan.tables.isEmpty else {
            throw ValidationError("\(manifest.file) declares no tables (add a `tables:` section)")
        }
        try tables.checkTemplates(plan: plan, manifest: manifest)
        guard let ledger = try Ledger.existing(workspace: workspace.value) else {
            throw ValidationError("no ledger at \(workspace.value.ledger.path): run `sweep run \(manifest.file)` first")
        }
        let done = try ledger.entries(plan.runs.map(\.id)).values.filter { $0.status == .succeeded }.count
        if done == 0 {
            // An all-"—" table is never what anyone wants; say where the results are instead.
            var message = "error: no run of \(manifest.file)\(manifest.profile.map { " (--profile \($0))" } ?? "") has results "
                + "in \(workspace.value.root.relativePathFromCurrentDirectory): every table would be empty; nothing written\n"
            if let hint = OtherProfileHint(input: ManifestInput(manifest)).message(ledger: ledger) { message += "  \(hint)\n" }
            FileHandle.standardError.write(Data(message.utf8))
            throw ExitCode(1)
        }
        for file in try tables.write(plan: plan, ledger: ledger, manifest: manifest) {
            print("wrote \(file.relativePathFromCurrentDirectory)")
        }
        if done < plan.runs.count {
            print("\(plan.runs.count - done) of \(plan.runs.count) runs have no results yet; their cells show —")
        }
    }
}
