import ArgumentParser
import Foundation
import SweepCore
import SweepExecute
import SweepLedger

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel the Slurm jobs of a sweep's runs (scancel) and record them as interrupted.",
        discussion: """
            Cancels the array tasks `sweep run --executor slurm` submitted for the runs of FILE \
            (every run this workspace has in Slurm without FILE), waits for Slurm to end them \
            (running engines get SIGTERM and keep their checkpoints) and records them as \
            interrupted. Running the same `sweep run` again submits what is left, and the \
            interrupted runs continue from their checkpoints.

            Examples:
              sweep cancel experiments/ablation.yaml
              sweep cancel                       # everything this workspace submitted
            """
    )

    @OptionGroup var manifest: OptionalManifestArguments

    @OptionGroup var workspace: WorkspaceOption

    func run() async throws {
        guard let ledger = try Ledger.existing(workspace: workspace.value) else {
            print("nothing to cancel: \(workspace.value.root.path) has no ledger")
            return
        }
        let runs = try manifest.plan()?.runs.map(\.id)
        let cancelled: [RunID]
        do {
            cancelled = try await SlurmExecutor(workspace: workspace.value, ledger: ledger).cancel(runs)
        } catch let error as SlurmError {
            throw ValidationError(error.description)
        }
        guard !cancelled.isEmpty else {
            print("nothing to cancel: no run of \(manifest.file ?? "this workspace") is queued or running in Slurm")
            return
        }
        let records = try ledger.records(cancelled)
        let still = cancelled.filter { records[$0]?.status == .running }
        print("cancelled \(cancelled.count) run\(cancelled.count == 1 ? "" : "s") in Slurm"
              + (still.isEmpty ? "" : "; \(still.count) not ended yet (`sweep status` records them when they do)"))
        print("run the same `sweep run` again to resume them")
    }
}
