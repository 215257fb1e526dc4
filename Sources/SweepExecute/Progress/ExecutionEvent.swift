import SweepCore

/// What the scheduler reports as it goes. Events arrive in the order things happen; a sink
/// must be cheap (it is called on the scheduler's task).
public enum ExecutionEvent: Sendable, Equatable {
    /// Before anything starts: the runs to run (in plan order), how many of the plan's runs had
    /// succeeded already, the budget.
    case began(toRun: [PlannedRun], alreadyDone: Int, budget: ResourceBudget)
    case started(PlannedRun, attempt: Int)
    /// A run ended for good in this invocation: succeeded, failed (after its retries) or interrupted.
    case finished(PlannedRun, status: RunStatus, detail: String?)
    /// An attempt failed and the run starts again.
    case retrying(PlannedRun, attempt: Int, after: String)
    case skipped(PlannedRun, reason: String)
    /// Another `sweep` process on this workspace is running it; this one waits for the outcome.
    case waitingElsewhere(PlannedRun)
    /// Another process finished a run this one was waiting for.
    case finishedElsewhere(PlannedRun, status: RunStatus)
    case stopping(StopReason)
}

public protocol ProgressSink: Sendable {
    func handle(_ event: ExecutionEvent)
}
