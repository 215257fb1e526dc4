import ArgumentParser
import Foundation
import SweepCore
import SweepExecute
import SweepLedger

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "List runs and their states from the workspace's ledger.",
        discussion: """
            Without FILE: every sweep registered in the workspace, each with its state counts and \
            one line per run. With FILE: the runs that manifest plans now (runs the ledger has \
            never seen are "new"). Nothing is run or changed.

            States: new, running, succeeded, failed, interrupted, skipped.

            Runs submitted to Slurm are brought up to date first: their outcome is read from \
            their run directories, and squeue (sacct when accounting is on) says which are still \
            queued or running; the NOTE column shows their array task and its Slurm state.

            Examples:
              sweep status
              sweep status experiments/ablation.yaml
              sweep status --state failed --state interrupted
              sweep status --json | jq '.sweeps[].counts'
            """
    )

    @OptionGroup var manifest: OptionalManifestArguments

    @OptionGroup var workspace: WorkspaceOption

    @Option(help: ArgumentHelp("List only runs in this state (repeatable); the counts still cover every run.",
                               valueName: "state"))
    var state: [RunState] = []

    @Flag(help: "Print JSON for machines.")
    var json = false

    func run() async throws {
        let workspace = workspace.value
        let ledger = try Ledger.existing(workspace: workspace)
        // A run whose `sweep` died shows as interrupted, not as running forever.
        try ledger?.recoverOrphans(host: Ledger.currentHost)
        var slurm: SlurmReconciler.Report?
        if let ledger, !(try ledger.batchRuns().isEmpty) {
            slurm = try await SlurmReconciler(ledger: ledger).reconcile()
            if let problem = slurm?.queueProblem {
                FileHandle.standardError.write(Data("warning: Slurm's queue could not be read; runs without an exit status are shown as running: \(problem)\n".utf8))
            }
        }
        var listing: StatusListing
        if let plan = try manifest.plan() {
            listing = try StatusListing.plan(plan, ledger: ledger, workspace: workspace)
        } else if let ledger {
            listing = try StatusListing.workspace(ledger)
        } else {
            listing = StatusListing(workspace: workspace, sections: [])
        }
        listing.only = Set(state)
        listing.slurmStates = slurm?.live.compactMapValues { $0.state?.rawValue } ?? [:]
        print(json ? try listing.json(ledger: ledger) : listing.text(), terminator: "")
        if let file = manifest.file, !listing.sections.flatMap(\.runs).contains(where: { $0.status == .succeeded }),
           let hint = OtherProfileHint(input: ManifestInput(file: file, overrides: manifest.overrides, profile: manifest.profile))
               .message(ledger: ledger) {
            FileHandle.standardError.write(Data("note: \(hint)\n".utf8))
        }
    }
}
