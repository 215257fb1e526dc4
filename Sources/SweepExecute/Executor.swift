import Foundation
import SweepCore
import SweepLedger

/// Something that executes a plan's runs and records them in the ledger: the local
/// subprocess pool (`LocalExecutor`), Slurm job arrays (`SlurmExecutor`), and the in-memory
/// stand-in for tests (`FakeExecutor`). Executors never repeat a run the ledger already holds as succeeded
/// unless `RunOptions.rerun` asks for it.
public protocol Executor: Sendable {
    /// Runs what is left of `plan` and returns when nothing more can start: every run finished,
    /// was skipped, or a stop (signal, fail-fast) ended launching and the running ones ended.
    /// - Parameters:
    ///   - progress: receives every start, finish, retry and skip as it happens.
    ///   - stop: requesting it stops launching and ends the running runs as interrupted.
    func execute(_ plan: Plan, progress: (any ProgressSink)?, stop: StopSignal) async throws -> RunSummary
}

extension Executor {
    public func execute(_ plan: Plan, progress: (any ProgressSink)? = nil) async throws -> RunSummary {
        try await execute(plan, progress: progress, stop: StopSignal())
    }
}

/// How `sweep run` executes a plan.
public struct RunOptions: Sendable, Equatable {
    /// Runs at the same time; nil derives it from the cores and `threadsPerRun` (see `ResourceBudget`).
    public var slots: Int?
    /// Threads each run may use (`MTL_THREADS`, `OPENBLAS_NUM_THREADS`); nil derives it so that
    /// slots x threads <= cores.
    public var threadsPerRun: Int?
    /// Cores the budget divides; defaults to the cores this process may use.
    public var cores: Int
    /// Wall-clock limit of one attempt; a run over it is terminated (SIGTERM, then SIGKILL after
    /// `grace`) and recorded failed with reason "timeout after ...".
    public var timeout: Duration?
    /// Failures a run may have before it is given up: a failed run is attempted again at once,
    /// and by later `sweep run`s, while its recorded failures are at most `retries`.
    public var retries: Int
    /// Runs even the runs that already succeeded, from scratch (their run directory is emptied).
    public var rerun: Bool
    /// Gives failed runs whose retry budget is spent a fresh budget of `retries` in this invocation.
    public var retryFailed: Bool
    /// Stops launching after the first run that fails for good (after its retries); the runs
    /// already running finish.
    public var failFast: Bool
    /// Time between SIGTERM and SIGKILL when a run is stopped (Ctrl-C, SIGTERM, timeout).
    public var grace: Duration
    /// Whether `execute` traps SIGINT and SIGTERM for its duration (a second signal kills the
    /// runs at once). Tests that drive `StopSignal` themselves turn it off.
    public var trapSignals: Bool
    /// How often to look at runs another `sweep` process on this workspace is running.
    public var ledgerPollInterval: Duration
    /// Owner recorded with each claim.
    public var host: String
    public var pid: Int32

    public init(slots: Int? = nil, threadsPerRun: Int? = nil,
                cores: Int = ProcessInfo.processInfo.activeProcessorCount,
                timeout: Duration? = nil, retries: Int = 1, rerun: Bool = false, retryFailed: Bool = false,
                failFast: Bool = false, grace: Duration = .seconds(10), trapSignals: Bool = true,
                ledgerPollInterval: Duration = .seconds(1), host: String = Ledger.currentHost,
                pid: Int32 = getpid()) {
        self.slots = slots; self.threadsPerRun = threadsPerRun; self.cores = cores
        self.timeout = timeout; self.retries = retries; self.rerun = rerun; self.retryFailed = retryFailed
        self.failFast = failFast; self.grace = grace; self.trapSignals = trapSignals
        self.ledgerPollInterval = ledgerPollInterval; self.host = host; self.pid = pid
    }

    /// The manifest's `executor:` settings; command-line flags then override fields.
    public init(_ settings: ExecutorSettings) {
        self.init(slots: settings.slots, threadsPerRun: settings.threadsPerRun,
                  timeout: settings.timeoutSeconds.map { .milliseconds(Int64(($0 * 1000).rounded())) },
                  retries: settings.retries)
    }
}

/// Where each run of a plan stands after `execute`. Every run of the plan appears in exactly
/// one list.
public struct RunSummary: Sendable, Equatable {
    /// Ran and succeeded in this invocation.
    public var succeeded: [RunID] = []
    /// Had succeeded before (or another `sweep` finished it meanwhile); not run again.
    public var alreadyDone: [RunID] = []
    /// Failed in this invocation, or earlier with its retry budget spent.
    public var failed: [RunID] = []
    /// Not run because a dependency failed or was skipped; the ledger holds the reason.
    public var skipped: [RunID] = []
    /// Stopped by a signal; the next `sweep run` resumes them.
    public var interrupted: [RunID] = []
    /// Never started: fail-fast or a signal stopped launching first.
    public var notStarted: [RunID] = []
    /// Still running in another `sweep` process when this one stopped.
    public var runningElsewhere: [RunID] = []
    /// Queued or running in a batch system (Slurm): submitted, not finished yet.
    public var submitted: [RunID] = []
    /// The batch jobs this invocation submitted.
    public var submissions: [BatchSubmission] = []
    /// Runs left "running" by a dead `sweep` that this invocation found and marked interrupted.
    public var recoveredOrphans: [RunID] = []
    /// Runs whose engine finished on its own after their `sweep` ended (found interrupted now or
    /// before), recorded as succeeded from their run directories; they are also in `alreadyDone`.
    public var adoptedOrphans: [RunID] = []
    public var stoppedBy: StopReason?
    public var budget: ResourceBudget

    public init(budget: ResourceBudget) { self.budget = budget }

    /// True when every run of the plan has succeeded (now or before).
    public var isComplete: Bool { !hasProblems && submitted.isEmpty }

    /// Some run failed, was skipped or interrupted, did not start, or is held by another `sweep`.
    public var hasProblems: Bool {
        !(failed.isEmpty && skipped.isEmpty && interrupted.isEmpty && notStarted.isEmpty && runningElsewhere.isEmpty)
    }

    /// What `sweep run` exits with: 128 + signal when stopped by one (130 for Ctrl-C), 1 when
    /// a run failed, was skipped or never started, 0 when everything succeeded or is in the
    /// batch system's hands.
    public var exitCode: Int32 {
        if case .signal(let signal) = stoppedBy { return 128 + signal }
        return hasProblems ? 1 : 0
    }
}

/// One job array handed to a batch system.
public struct BatchSubmission: Sendable, Equatable {
    /// The array job id sbatch returned.
    public var job: String
    /// The `--array` value: array indices (0 ..< tasks; the submission's task list maps each to
    /// its runs) and the `%N` limit.
    public var array: String
    public var runs: [RunID]
    /// Dependency level: 0 needs nothing that is still to run; level k needs runs of levels < k.
    public var level: Int
    /// The `--dependency` value, when the array waits for other jobs.
    public var dependency: String?
    /// Runs each array task runs in turn (the last task may have fewer), and why that many.
    public var runsPerTask: Int
    public var packing: String?

    public init(job: String, array: String, runs: [RunID], level: Int, dependency: String?, runsPerTask: Int = 1,
                packing: String? = nil) {
        self.job = job; self.array = array; self.runs = runs; self.level = level; self.dependency = dependency
        self.runsPerTask = runsPerTask; self.packing = packing
    }
}

/// Why an executor stopped launching before the plan was done.
public enum StopReason: Sendable, Equatable, CustomStringConvertible {
    case signal(Int32)
    case failFast(RunID)
    case requested(String)

    public var description: String {
        switch self {
        case .signal(let signal): return "stopped by \(signalName(signal))"
        case .failFast(let id): return "stopped after run \(id) failed (--fail-fast)"
        case .requested(let why): return why
        }
    }
}

public enum ExecuteError: Error, Equatable, CustomStringConvertible {
    /// The engine command's executable does not exist or is not executable.
    case engineNotFound(String, searched: [String])

    public var description: String {
        switch self {
        case .engineNotFound(let name, let searched):
            let places = searched.isEmpty ? "" : " (looked in: \(searched.joined(separator: ", ")))"
            return "engine executable '\(name)' not found or not executable\(places); "
                + "set `engine: command:` in the manifest or build mtl-engine next to sweep"
        }
    }
}

/// "SIGTERM", "SIGKILL", ... for messages.
func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGINT: return "SIGINT"
    case SIGTERM: return "SIGTERM"
    case SIGKILL: return "SIGKILL"
    case SIGHUP: return "SIGHUP"
    case SIGQUIT: return "SIGQUIT"
    case SIGSEGV: return "SIGSEGV"
    case SIGABRT: return "SIGABRT"
    case SIGBUS: return "SIGBUS"
    case SIGFPE: return "SIGFPE"
    case SIGILL: return "SIGILL"
    case SIGPIPE: return "SIGPIPE"
    default: return "signal \(signal)"
    }
}
