import Foundation
import RunContract
import SweepCore
import SweepLedger
import Synchronization

/// The live state of one `execute`: which runs are running and how far each one is (from its
/// progress.jsonl), the totals, and estimates of what is left. Feed it the scheduler's events;
/// read it with `snapshot()` as often as a display needs.
///
/// Time left comes from the same per-group history as `sweep plan`'s estimate
/// (`GroupTiming.expectedSeconds`), re-read whenever a run succeeds, and from each running
/// run's own pace once its progress.jsonl shows one.
public final class SweepProgress: ProgressSink {
    private struct Running {
        var run: PlannedRun
        var attempt: Int
        var startedAt: Date
        /// progress.jsonl's size when last read, so an unchanged file is not parsed again.
        var progressBytes: Int = -1
        var training: TrainingProgress?
    }

    private struct State {
        /// The runs this invocation set out to run, in plan order.
        var toRun: [PlannedRun] = []
        var alreadyDone = 0
        var budget: ResourceBudget?
        var running: [RunID: Running] = [:]
        /// Runs of `toRun` that ended one way or another (here or in another process).
        var ended: Set<RunID> = []
        var succeeded = 0, failed = 0, skipped = 0, interrupted = 0, doneElsewhere = 0
        var waitingElsewhere: Set<RunID> = []
        var stopping: StopReason?
        var timings: [String: GroupTiming] = [:]
        /// A run succeeded since `timings` was read.
        var timingsStale = true
    }

    private let workspace: Workspace?
    private let pastTimings: @Sendable () -> [String: GroupTiming]
    /// The clock: the displays' timing uses it too, so tests can drive both.
    let now: @Sendable () -> Date
    private let state = Mutex(State())

    /// - Parameters:
    ///   - workspace: where runs write progress.jsonl; nil shows no per-run detail.
    ///   - pastTimings: the run times of the workspace's succeeded runs per group
    ///     (`Ledger.groupTimings`); read at the start and again after each run succeeds.
    public init(workspace: Workspace?, pastTimings: @escaping @Sendable () -> [String: GroupTiming] = { [:] },
                now: @escaping @Sendable () -> Date = Date.init) {
        self.workspace = workspace
        self.pastTimings = pastTimings
        self.now = now
    }

    public func handle(_ event: ExecutionEvent) {
        let time = now()
        state.withLock { state in
            switch event {
            case .began(let toRun, let alreadyDone, let budget):
                state.toRun = toRun; state.alreadyDone = alreadyDone; state.budget = budget
            case .started(let run, let attempt):
                state.running[run.id] = Running(run: run, attempt: attempt, startedAt: state.running[run.id]?.startedAt ?? time)
            case .retrying(let run, let attempt, _):
                state.running[run.id]?.attempt = attempt
            case .finished(let run, let status, _):
                state.running.removeValue(forKey: run.id)
                state.ended.insert(run.id)
                switch status {
                case .succeeded:
                    state.succeeded += 1
                    state.timingsStale = true
                case .failed: state.failed += 1
                case .interrupted: state.interrupted += 1
                case .skipped: state.skipped += 1
                case .planned, .running: break
                }
            case .skipped(let run, _):
                state.ended.insert(run.id)
                state.skipped += 1
            case .waitingElsewhere(let run):
                state.waitingElsewhere.insert(run.id)
            case .finishedElsewhere(let run, let status):
                state.waitingElsewhere.remove(run.id)
                state.ended.insert(run.id)
                if status == .succeeded { state.doneElsewhere += 1; state.timingsStale = true }
            case .stopping(let reason):
                if state.stopping == nil || reason != state.stopping { state.stopping = reason }
            }
        }
    }

    /// Seconds since a running run started in this invocation.
    public func runningTime(of id: RunID) -> Double? {
        let time = now()
        return state.withLock { $0.running[id].map { time.timeIntervalSince($0.startedAt) } }
    }

    public func snapshot() -> ProgressSnapshot {
        let time = now()
        refreshTraining()
        refreshTimings()
        return state.withLock { state in
            let timings = state.timings
            let running = state.running.values
                .sorted { ($0.startedAt, $0.run.id) < ($1.startedAt, $1.run.id) }
                .map { entry in
                    let elapsed = time.timeIntervalSince(entry.startedAt)
                    return ProgressSnapshot.RunLine(
                        id: entry.run.id, title: Self.title(of: entry.run), attempt: entry.attempt, elapsed: elapsed,
                        training: entry.training,
                        left: Self.timeLeft(training: entry.training, elapsed: elapsed,
                                            expected: GroupTiming.expectedSeconds(of: entry.run, timings: timings)))
                }
            var snapshot = ProgressSnapshot(
                runs: state.toRun.count + state.alreadyDone, alreadyDone: state.alreadyDone + state.doneElsewhere,
                succeeded: state.succeeded, failed: state.failed, skipped: state.skipped, interrupted: state.interrupted,
                running: running, waitingElsewhere: state.waitingElsewhere.count, stopping: state.stopping,
                budget: state.budget)
            // Once stopping, nothing new starts: only the running runs are left to wait for.
            let runsLeft = state.toRun.filter {
                !state.ended.contains($0.id) && (state.stopping == nil || state.running[$0.id] != nil)
            }
            if !runsLeft.isEmpty {
                snapshot.eta = RemainingTime.simulate(
                    runsLeft: runsLeft, running: Dictionary(uniqueKeysWithValues: running.map { ($0.id, $0.left) }),
                    slots: state.budget?.slots ?? 1) { GroupTiming.expectedSeconds(of: $0, timings: timings) }
            }
            return snapshot
        }
    }

    /// Seconds a running run has left: its own pace once it has one; before that what its
    /// group's past runs took, less the share of epochs done (or, with no progress yet, the
    /// time it has been running).
    static func timeLeft(training: TrainingProgress?, elapsed: Double, expected: Double?) -> Double? {
        if let pace = training?.eta { return pace }
        guard let expected else { return nil }
        guard let training else { return max(0, expected - elapsed) }
        return expected * (1 - training.fraction)
    }

    /// Reads the past timings again after a run succeeded (outside the lock: it is a query).
    private func refreshTimings() {
        // Cleared before the query, so a run that succeeds meanwhile makes it stale again.
        let stale = state.withLock { state in
            defer { state.timingsStale = false }
            return state.timingsStale
        }
        guard stale else { return }
        let timings = pastTimings()
        state.withLock { $0.timings = timings }
    }

    /// Reads the progress.jsonl of runs whose file grew since the last look (outside the lock).
    private func refreshTraining() {
        guard let workspace else { return }
        let watched = state.withLock { state in state.running.map { ($0.key, $0.value.progressBytes) } }
        for (id, knownBytes) in watched {
            let url = workspace.runDirectory(id).appendingPathComponent(RunFiles.progress)
            let size = ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
            guard size != knownBytes else { continue }
            let training = TrainingProgress(events: ContractJSON.readProgress(at: url))
            state.withLock { state in
                state.running[id]?.progressBytes = size
                state.running[id]?.training = training
            }
        }
    }

    /// "group/label key=value ... (seed 1)": the row label and the grid values, which tell a group's
    /// runs apart (a labelled row crossed with a grid axis is several runs), or the group alone.
    static func title(of run: PlannedRun) -> String {
        let values = run.axes.keys.sorted().map { "\($0)=\(run.axes[$0]!)" }
        let name = ([run.label].compactMap { $0 } + values).joined(separator: " ")
        let seed = run.axes["seed"] == nil && run.seed != 0 ? " (seed \(run.seed))" : ""
        return (name.isEmpty ? run.group : "\(run.group)/\(name)") + seed
    }
}

/// How far a run's training is, from its progress.jsonl.
public struct TrainingProgress: Sendable, Equatable {
    public var epoch: Int
    public var epochs: Int
    public var loss: Double
    public var phase: String?
    /// Fraction of the run done, 0...1.
    public var fraction: Double
    /// Seconds left at the pace of the current attempt; nil until there is a pace to go by.
    public var eta: Double?

    /// nil when there are no events yet.
    public init?(events: [ProgressEvent]) {
        guard let last = events.last else { return nil }
        epoch = last.epoch; epochs = last.epochs; loss = last.loss; phase = last.phase
        fraction = Self.fraction(last)
        // An attempt restarts `elapsed`; its pace counts from where the previous attempt's
        // checkpoint left it (the last completed epoch).
        let restart = events.indices.last { $0 > 0 && events[$0].elapsed < events[$0 - 1].elapsed }
        let startFraction = restart.map { index in
            let before = events[index - 1]
            return before.epochs > 0 ? Double(min(before.epoch, before.epochs)) / Double(before.epochs) : 0
        } ?? 0
        let done = fraction - startFraction
        eta = last.elapsed > 0 && done > 0 ? last.elapsed / done * (1 - fraction) : nil
    }

    /// The engine reports `epoch` as completed epochs and `step` as steps done in the current one.
    static func fraction(_ event: ProgressEvent) -> Double {
        guard event.epochs > 0 else { return 0 }
        let within = event.steps > 0 && event.step < event.steps ? Double(event.step) / Double(event.steps) : 0
        return min(1, (Double(event.epoch) + within) / Double(event.epochs))
    }
}

/// What a display shows at one moment.
public struct ProgressSnapshot: Sendable, Equatable {
    public struct RunLine: Sendable, Equatable {
        public var id: RunID
        public var title: String
        public var attempt: Int
        /// Seconds since the run started in this invocation.
        public var elapsed: Double
        public var training: TrainingProgress?
        /// Seconds left: the run's own pace, else its group's past runs (see `SweepProgress.timeLeft`).
        public var left: Double?
    }

    public var runs: Int
    /// Succeeded before this invocation, or finished by another `sweep` meanwhile.
    public var alreadyDone: Int
    public var succeeded: Int
    public var failed: Int
    public var skipped: Int
    public var interrupted: Int
    public var running: [RunLine]
    public var waitingElsewhere: Int
    public var stopping: StopReason?
    public var budget: ResourceBudget?
    /// Time until every run is done; nil when no run is left.
    public var eta: RemainingTime?

    public var done: Int { alreadyDone + succeeded }
    /// Runs not finished in any way yet (running ones included).
    public var remaining: Int { max(0, runs - done - failed - skipped - interrupted) }
}
