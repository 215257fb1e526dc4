import Foundation
import SweepCore
import SweepLedger

/// The embedded default: runs each run as a subprocess of the engine on this machine, a pool of
/// `slots` at a time, each with its thread budget, its timeout and its retries.
///
/// ```swift
/// let executor = LocalExecutor(workspace: workspace, ledger: ledger, options: RunOptions(plan.executor))
/// let summary = try await executor.execute(plan, progress: renderer)
/// exit(summary.exitCode)
/// ```
public struct LocalExecutor: Executor {
    public let workspace: Workspace
    public let ledger: Ledger
    public var options: RunOptions

    public init(workspace: Workspace, ledger: Ledger, options: RunOptions = RunOptions()) {
        self.workspace = workspace; self.ledger = ledger; self.options = options
    }

    /// Throws `ExecuteError.engineNotFound` before anything starts when the engine cannot be
    /// found, and ledger errors; a run's own failure is never thrown, it is in the summary.
    public func execute(_ plan: Plan, progress: (any ProgressSink)?, stop: StopSignal) async throws -> RunSummary {
        let commands = try EngineCommand.all(for: plan)
        let trap = options.trapSignals ? SignalTrap(stop: stop) : nil
        defer { trap?.cancel() }
        let launcher = SubprocessLauncher(workspace: workspace, commands: commands, timeout: options.timeout,
                                          grace: options.grace)
        return try await GridScheduler(plan: plan, ledger: ledger, launcher: launcher, options: options,
                                       stop: stop, progress: progress).execute()
    }
}
