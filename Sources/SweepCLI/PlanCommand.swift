import ArgumentParser
import Foundation
import SweepCore
import SweepLedger

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Expand a manifest and show what would run, without running anything.",
        discussion: """
            Shows the number of runs, how they spread over the grid's axes, each run's state in \
            the workspace's ledger (new, succeeded, failed, interrupted, ...), which groups need \
            which, and an estimate of the time left from the runs this workspace has finished. \
            A malformed manifest is reported with its file, line and key; nothing is written. \
            Every resolved config is checked by the engine first (`mtl-engine --validate-config`): \
            a rejected one is listed with where its value came from, and the exit status is 2.

            Examples:
              sweep plan experiments/ablation.yaml
              sweep plan experiments/ablation.yaml epochs=5 seeds=[0,1,2]
              sweep plan experiments/ablation.yaml rank=4,8        # a new grid axis
              sweep plan experiments/ablation.yaml --profile smoke --all
              sweep plan experiments/ablation.yaml --json | jq '.states'
            """
    )

    @OptionGroup var manifest: ManifestArguments
    @OptionGroup var workspace: WorkspaceOption

    @Flag(help: "List every run (by default the first 200 are listed).")
    var all = false

    @Flag(help: "Print JSON for machines (every run, with its resolved config).")
    var json = false

    @Flag(help: "Do not have the engine check every config first (a run still checks its own when it starts).")
    var skipConfigCheck = false

    func run() async throws {
        let plan = try ManifestInput(manifest).plan()
        // A layout without templates is bad input here too, not only when `run` starts.
        let tables = try TableOutputOptions.parse([])
        if (try? tables.templatesDirectory(manifest: manifest.url)) != nil {
            try tables.checkTemplates(plan: plan, manifest: manifest)
        }
        if !skipConfigCheck { try await ConfigGate(manifest: manifest).check(plan) }
        let ledger = try Ledger.existing(workspace: workspace.value)
        let overview = try PlanOverview(plan: plan, ledger: ledger)
        let output = json ? try overview.json(manifest: manifest.file, profile: manifest.profile)
                          : overview.text(manifest: manifest.file, listLimit: all ? nil : 200, profile: manifest.profile)
        FileHandle.standardOutput.write(Data(output.utf8))
        if let ledger, !(try ledger.entries(plan.runs.map(\.id)).values.contains { $0.status == .succeeded }),
           let hint = OtherProfileHint(input: ManifestInput(manifest)).message(ledger: ledger) {
            FileHandle.standardError.write(Data("note: \(hint)\n".utf8))
        }
    }
}
