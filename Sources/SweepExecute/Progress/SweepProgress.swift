import Foundation
import RunContract
import SweepCore
import Synchronization

/// The live state of one `execute`: which runs are running and how far each one is (from its
/// progress.jsonl), the totals, and estimates of what is left. Feed it the scheduler's events;
/// read it with `snapshot()` as often as a display needs.
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
        var runs = 0
        var alreadyDone = 0
        var budget: ResourceBudget?
        var running: [RunID: Running] = [:]
        var succeeded = 0, failed = 0, skipped = 0, interrupted = 0, doneElsewhere = 0
        /// Wall time of each run that succeeded in this invocation.
        var durations: [Double] = []
        var waitingElsewhere: Set<RunID> = []
        var stopping: StopReason?
    }

    private let workspace: Workspace?
    private let now: @Sendable () -> Date
    private let state = Mutex(State())

    /// - Parameter workspace: where runs write progress.jsonl; nil shows no per-run detail.
    public init(workspace: Workspace?, now: @escaping @Sendable () -> Date = Date.init) {
        self.workspace = workspace
        self.now = now
    }

    public func handle(_ event: ExecutionEvent) {
        let time = now()
        state.withLock { state in
            switch event {
            case .began(let runs, let alreadyDone, let budget):
                state.runs = runs; state.alreadyDone = alreadyDone; state.budget = budget
            case .started(let run, let attempt):
                state.running[run.id] = Running(run: run, attempt: attempt, startedAt: state.running[run.id]?.startedAt ?? time)
            case .retrying(let run, let attempt, _):
                state.running[run.id]?.attempt = attempt
            case .finished(let run, let status, _):
                let started = state.running.removeValue(forKey: run.id)?.startedAt
                switch status {
                case .succeeded:
                    state.succeeded += 1
                    if let started { state.durations.append(time.timeIntervalSince(started)) }
                case .failed: state.failed += 1
                case .interrupted: state.interrupted += 1
                case .skipped: state.skipped += 1
                case .planned, .running: break
                }
            case .skipped:
                state.skipped += 1
            case .waitingElsewhere(let run):
                state.waitingElsewhere.insert(run.id)
            case .finishedElsewhere(let run, let status):
                state.waitingElsewhere.remove(run.id)
                if status == .succeeded { state.doneElsewhere += 1 }
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
        return state.withLock { state in
            let running = state.running.values
                .sorted { ($0.startedAt, $0.run.id) < ($1.startedAt, $1.run.id) }
                .map { entry in
                    ProgressSnapshot.RunLine(
                        id: entry.run.id, title: Self.title(of: entry.run), attempt: entry.attempt,
                        elapsed: time.timeIntervalSince(entry.startedAt), training: entry.training)
                }
            var snapshot = ProgressSnapshot(
                runs: state.runs, alreadyDone: state.alreadyDone + state.doneElsewhere, succeeded: state.succeeded,
                failed: state.failed, skipped: state.skipped, interrupted: state.interrupted, running: running,
                waitingElsewhere: state.waitingElsewhere.count, stopping: state.stopping, budget: state.budget)
            snapshot.eta = Self.estimate(snapshot, durations: state.durations)
            return snapshot
        }
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

    /// Seconds until the whole sweep is done: the running runs' own estimates plus the runs not
    /// started yet at the mean duration seen so far, spread over the slots.
    static func estimate(_ snapshot: ProgressSnapshot, durations: [Double]) -> Double? {
        let measured = durations.isEmpty ? nil : durations.reduce(0, +) / Double(durations.count)
        let projected = snapshot.running.compactMap { line -> Double? in
            guard let eta = line.training?.eta else { return nil }
            return line.elapsed + eta
        }
        guard let typical = measured ?? (projected.isEmpty ? nil : projected.reduce(0, +) / Double(projected.count))
        else { return nil }
        let runningLeft = snapshot.running.map { $0.training?.eta ?? max(0, typical - $0.elapsed) }
        let waiting = Double(max(0, snapshot.remaining - snapshot.running.count))
        let slots = Double(max(1, snapshot.budget?.slots ?? 1))
        let spread = (runningLeft.reduce(0, +) + waiting * typical) / slots
        return max(spread, runningLeft.max() ?? 0)
    }

    /// "group/label (seed 1)", or the grid values when the run has no label.
    static func title(of run: PlannedRun) -> String {
        let name = run.label ?? run.axes.keys.sorted().map { "\($0)=\(run.axes[$0]!)" }.joined(separator: " ")
        let seed = run.axes["seed"] == nil && run.seed != 0 ? " (seed \(run.seed))" : ""
        return name.isEmpty ? "\(run.group) \(run.id)" : "\(run.group)/\(name)\(seed)"
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
    /// Seconds until every run is done, when there is anything to estimate from.
    public var eta: Double?

    public var done: Int { alreadyDone + succeeded }
    /// Runs not finished in any way yet (running ones included).
    public var remaining: Int { max(0, runs - done - failed - skipped - interrupted) }
}
