import Foundation
import RunContract
import SweepCore

/// Runs one attempt of one run. The scheduler decides what runs when and owns the ledger; a
/// launcher only starts the work, waits for it and says how it ended.
public protocol RunLauncher: Sendable {
    /// Must return once `stop` is requested (after ending the work it started) and must not
    /// throw: every way an attempt can go wrong is an outcome.
    func launch(_ attempt: RunAttempt, stop: StopSignal) async -> AttemptOutcome

    /// The result of the run's attempt number `attempt` (the ledger's count) when it finished on
    /// its own after the `sweep` that started it had ended, so that it may be recorded as succeeded
    /// instead of run again; nil when there is none or it cannot be trusted.
    func finishedAttempt(of run: PlannedRun, attempt: Int) -> FinishedAttempt?
}

extension RunLauncher {
    public func finishedAttempt(of run: PlannedRun, attempt: Int) -> FinishedAttempt? { nil }
}

/// A successful attempt nobody saw end (its `sweep` was killed), found in its run directory.
public struct FinishedAttempt: Sendable, Equatable {
    public var metrics: RunMetrics
    /// When the engine ended (the exit-status file's time).
    public var endedAt: Date

    public init(metrics: RunMetrics, endedAt: Date) { self.metrics = metrics; self.endedAt = endedAt }
}

public struct RunAttempt: Sendable, Equatable {
    public var run: PlannedRun
    /// 1 for the first attempt in this invocation, 2 for its first retry, ...
    public var number: Int
    /// Start from scratch, discarding what an earlier attempt left (`--rerun`).
    public var startFresh: Bool
    /// The run's thread budget.
    public var threads: Int
    /// The run's attempt across every invocation, as the ledger counts it (what `sweep show`
    /// says): the log header of a resumed run's second attempt says 2, not 1 again.
    public var overall: Int

    public init(run: PlannedRun, number: Int, startFresh: Bool, threads: Int, overall: Int? = nil) {
        self.run = run; self.number = number; self.startFresh = startFresh; self.threads = threads
        self.overall = overall ?? number
    }
}

public enum AttemptOutcome: Sendable, Equatable {
    case succeeded(RunMetrics)
    /// `exitCode` is nil when the engine died by a signal or never started; `reason` says why
    /// when the exit code alone does not (a timeout, a missing metrics.json, ...).
    case failed(exitCode: Int32?, stderrTail: String?, reason: String?)
    /// Ended by a stop request; the run resumes next time.
    case interrupted(reason: String)

    var status: RunStatus {
        switch self {
        case .succeeded: return .succeeded
        case .failed: return .failed
        case .interrupted: return .interrupted
        }
    }

    /// One line for progress output: "exit code 3", "timeout after 30 s", ...
    var summary: String? {
        switch self {
        case .succeeded: return nil
        case .failed(let exitCode, _, let reason):
            return reason ?? exitCode.map { "exit code \($0)" } ?? "failed"
        case .interrupted(let reason): return reason
        }
    }
}
