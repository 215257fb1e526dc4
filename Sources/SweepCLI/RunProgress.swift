import Foundation
import RunContract
import SweepCore
import SweepExecute
import Synchronization

/// How `sweep run` shows a grid going by. On a terminal: event lines scroll above a board
/// that is redrawn in place every second (one line per running run with its epoch, loss and
/// ETA from progress.jsonl, then totals and an overall ETA). Elsewhere (CI logs, pipes): plain
/// event lines only, one per start, retry, skip and end.
final class RunProgress: ProgressSink, Sendable {
    private struct Running {
        var run: PlannedRun
        var attempt: Int
        var since: Date
    }

    private struct State {
        var total = 0
        var alreadyDone = 0
        var succeeded = 0
        var failed = 0
        var skipped = 0
        var interrupted = 0
        var running: [RunID: Running] = [:]
        /// Wall time of runs that succeeded in this invocation, for the overall ETA.
        var durations: [Double] = []
        var slots = 1
        /// Lines of the board drawn last, erased before the next drawing.
        var boardLines = 0
    }

    private let state = Mutex(State())
    private let workspace: Workspace
    private let write: @Sendable (String) -> Void
    private let live: Bool
    /// Redraws the board every second while live.
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    /// - Parameters:
    ///   - live: redraw a board in place (a terminal) rather than append lines.
    ///   - write: where the text goes.
    init(workspace: Workspace, live: Bool, write: @escaping @Sendable (String) -> Void) {
        self.workspace = workspace
        self.live = live
        self.write = write
        guard live else { return }
        ticker.withLock {
            $0 = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    guard let self, !Task.isCancelled else { return }
                    self.redraw(event: nil)
                }
            }
        }
    }

    static func forStandardOutput(workspace: Workspace) -> RunProgress {
        RunProgress(workspace: workspace, live: isatty(STDOUT_FILENO) == 1) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }

    deinit { ticker.withLock { $0?.cancel() } }

    /// Stops redrawing and leaves the last board on screen.
    func finish() {
        ticker.withLock { $0?.cancel() }
        if live { redraw(event: nil) }
    }

    func handle(_ event: ExecutionEvent) {
        let line: String? = state.withLock { state in
            switch event {
            case .began(let runs, let alreadyDone, let budget):
                state.total = runs
                state.alreadyDone = alreadyDone
                state.slots = budget.slots
                let oversubscribed = budget.isOversubscribed ? " (more threads than cores, as asked)" : ""
                return "\(runs) runs, \(alreadyDone) already done; \(budget)\(oversubscribed)"
            case .started(let run, let attempt):
                state.running[run.id] = Running(run: run, attempt: attempt, since: Date())
                return "\(Self.counter(state)) started  \(Self.name(run))\(attempt > 1 ? " (attempt \(attempt))" : "")"
            case .retrying(let run, let attempt, let why):
                return "\(Self.counter(state)) retry    \(Self.name(run)): \(why); attempt \(attempt)"
            case .finished(let run, let status, let detail):
                let started = state.running.removeValue(forKey: run.id)?.since
                let took = started.map { Date().timeIntervalSince($0) }
                switch status {
                case .succeeded:
                    state.succeeded += 1
                    if let took { state.durations.append(took) }
                case .failed: state.failed += 1
                case .interrupted: state.interrupted += 1
                default: break
                }
                var text = "\(Self.counter(state)) \(status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(Self.name(run))"
                if let took { text += " after \(humanDuration(took))" }
                if let detail { text += ": \(detail)" }
                return text
            case .skipped(let run, let reason):
                state.skipped += 1
                return "\(Self.counter(state)) skipped  \(Self.name(run)): \(reason)"
            case .waitingElsewhere(let run):
                return "\(Self.counter(state)) waiting  \(Self.name(run)): another sweep process is running it"
            case .finishedElsewhere(let run, let status):
                if status == .succeeded { state.alreadyDone += 1 }
                return "\(Self.counter(state)) \(status.rawValue) elsewhere \(Self.name(run))"
            case .stopping(let reason):
                return "stopping: \(reason)"
            }
        }
        guard let line else { return }
        if live { redraw(event: line) } else { write(line + "\n") }
    }

    /// Erases the previous board, prints `event` (if any) where it stood, draws the board again.
    private func redraw(event: String?) {
        let text: String = state.withLock { state in
            var text = state.boardLines > 0 ? "\u{1B}[\(state.boardLines)F\u{1B}[J" : ""
            if let event { text += event + "\n" }
            let board = board(state)
            state.boardLines = board.count
            text += board.map { $0 + "\n" }.joined()
            return text
        }
        write(text)
    }

    private func board(_ state: State) -> [String] {
        var lines: [String] = []
        var remainingSeconds: [Double] = []
        for running in state.running.values.sorted(by: { $0.since < $1.since }) {
            let directory = workspace.runDirectory(running.run.id)
            let events = ContractJSON.readProgress(at: directory.appendingPathComponent(RunFiles.progress))
            var line = "  ▸ \(Self.name(running.run))"
            if let last = events.last {
                line += "  epoch \(last.epoch)/\(last.epochs)  step \(last.step)/\(last.steps)"
                line += "  loss \(String(format: "%.4g", last.loss))"
                if let eta = ProgressEstimate(events: events).remainingSeconds {
                    line += "  ETA \(humanDuration(eta))"
                    remainingSeconds.append(eta)
                }
            } else {
                line += "  starting (\(humanDuration(Date().timeIntervalSince(running.since))))"
            }
            lines.append(line)
        }
        let done = state.alreadyDone + state.succeeded
        var totals = "  \(done)/\(state.total) done"
        for (count, word) in [(state.failed, "failed"), (state.skipped, "skipped"),
                              (state.interrupted, "interrupted"), (state.running.count, "running")] where count > 0 {
            totals += " · \(count) \(word)"
        }
        let waiting = state.total - done - state.failed - state.skipped - state.interrupted - state.running.count
        if waiting > 0 { totals += " · \(waiting) waiting" }
        if !state.durations.isEmpty, waiting + state.running.count > 0 {
            // Waiting runs take the mean time of the runs finished so far, spread over the slots.
            let mean = state.durations.reduce(0, +) / Double(state.durations.count)
            let runningLeft = remainingSeconds.max() ?? 0
            let eta = max(runningLeft, (Double(waiting) * mean + remainingSeconds.reduce(0, +)) / Double(max(1, state.slots)))
            totals += " · ETA \(humanDuration(eta))"
        }
        lines.append(totals)
        return lines
    }

    private static func counter(_ state: State) -> String {
        let done = state.alreadyDone + state.succeeded + state.failed + state.skipped + state.interrupted
        let width = String(state.total).count
        return "[\(String(repeating: " ", count: max(0, width - String(done).count)))\(done)/\(state.total)]"
    }

    static func name(_ run: PlannedRun) -> String {
        var name = "\(run.id.rawValue.prefix(8)) \(run.group)"
        if let label = run.label { name += " \(label)" }
        return name + " seed \(run.seed)"
    }

    /// The last lines of `sweep run`: what happened, what is left and how to continue.
    static func closingText(_ summary: RunSummary, plan: Plan) -> String {
        var out = "\n"
        if let stop = summary.stoppedBy { out += "\(stop)\n" }
        let parts: [(Int, String)] = [
            (summary.succeeded.count, "succeeded"), (summary.alreadyDone.count, "already done"),
            (summary.failed.count, "failed"), (summary.skipped.count, "skipped"),
            (summary.interrupted.count, "interrupted"), (summary.notStarted.count, "not started"),
            (summary.runningElsewhere.count, "still running in another sweep process"),
        ]
        out += "sweep \"\(plan.name)\": " + parts.filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + "\n"
        if !summary.recoveredOrphans.isEmpty {
            out += "\(summary.recoveredOrphans.count) run(s) left running by a sweep that ended were resumed\n"
        }
        for id in summary.failed.prefix(10) { out += "  failed: \(id)  (sweep show \(id.rawValue.prefix(8)))\n" }
        if summary.failed.count > 10 { out += "  ... \(summary.failed.count - 10) more: sweep status --state failed\n" }
        if !summary.interrupted.isEmpty || !summary.notStarted.isEmpty {
            out += "run the same command again to resume\n"
        }
        return out
    }
}

/// How long a running run still needs, judged from its progress.jsonl: the rate of this
/// attempt's progress so far. Events mark progress as `epoch` whole epochs plus `step/steps`
/// of the next one; an event with `step == steps` closes epoch `epoch`.
struct ProgressEstimate {
    var remainingSeconds: Double?

    init(events: [ProgressEvent]) {
        // `elapsed` restarts with each attempt: keep the current attempt's events.
        var attempt: [ProgressEvent] = []
        for event in events {
            if let last = attempt.last, event.elapsed < last.elapsed { attempt = [] }
            attempt.append(event)
        }
        guard let last = attempt.last, last.epochs > 0 else { return }
        let done = Self.fraction(last)
        let first = attempt.first!
        let rate: Double
        if attempt.count > 1, last.elapsed > first.elapsed, done > Self.fraction(first) {
            rate = (done - Self.fraction(first)) / (last.elapsed - first.elapsed)
        } else if last.elapsed > 0, done > 0, events.count == attempt.count {
            rate = done / last.elapsed
        } else {
            return
        }
        remainingSeconds = max(0, (1 - done) / rate)
    }

    static func fraction(_ event: ProgressEvent) -> Double {
        guard event.epochs > 0 else { return 0 }
        let epochs = event.steps > 0 && event.step < event.steps
            ? Double(event.epoch) + Double(event.step) / Double(event.steps)
            : Double(event.epoch)
        return min(1, epochs / Double(event.epochs))
    }
}
