import Foundation
import SweepCore
import SweepLedger
import Synchronization

/// Shows a `SweepProgress` on a terminal. `live` (a TTY) keeps a block of one line per running
/// run at the bottom and redraws it in place, with finished, failed and skipped runs printed
/// above it for good; `plain` (a pipe, a CI log) appends a line per start and finish, a status
/// line when a run reaches a new epoch (or starts, ends), and otherwise one every
/// `plainInterval` at most, so a quiet hour of training costs a log 60 lines, not 360.
public final class ProgressRenderer: ProgressSink {
    public enum Style: Sendable { case live, plain }

    private struct Screen {
        /// Lines of the live block currently on screen, below the cursor's line.
        var blockLines = 0
        var lastStatus = Date.distantPast
        /// What the last plain status line showed; a different one is news.
        var lastMilestone: Milestone?
        var refresher: Task<Void, Never>?
    }

    /// What makes a plain status line worth printing: the totals, and each running run's
    /// attempt and epoch (not its loss or ETA, which change all the time).
    struct Milestone: Equatable {
        var totals: [Int]
        var runs: [RunID: [Int]]

        init(_ snapshot: ProgressSnapshot) {
            totals = [snapshot.done, snapshot.failed, snapshot.skipped, snapshot.interrupted, snapshot.waitingElsewhere]
            runs = Dictionary(uniqueKeysWithValues: snapshot.running.map { ($0.id, [$0.attempt, $0.training?.epoch ?? -1]) })
        }
    }

    public let model: SweepProgress
    public let style: Style
    private let write: @Sendable (String) -> Void
    private let width: @Sendable () -> Int
    private let plainInterval: Double
    private let screen = Mutex(Screen())

    public init(model: SweepProgress, style: Style, plainInterval: Double = 60,
                width: @escaping @Sendable () -> Int = { 100 }, write: @escaping @Sendable (String) -> Void) {
        self.model = model; self.style = style; self.plainInterval = plainInterval
        self.width = width; self.write = write
    }

    /// Draws on standard error: live when it is a terminal, plain otherwise.
    /// - Parameter pastTimings: the workspace's past run times per group, for the ETA.
    public static func standardError(workspace: Workspace?,
                                     pastTimings: @escaping @Sendable () -> [String: GroupTiming] = { [:] }) -> ProgressRenderer {
        let terminal = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        return ProgressRenderer(model: SweepProgress(workspace: workspace, pastTimings: pastTimings),
                                style: terminal ? .live : .plain,
                                width: { terminalWidth(STDERR_FILENO) }) { text in
            FileHandle.standardError.write(Data(text.utf8))
        }
    }

    public func handle(_ event: ExecutionEvent) {
        var took: Double?
        if case .finished(let run, _, _) = event { took = model.runningTime(of: run.id) }
        model.handle(event)
        let lines = ProgressText.lines(for: event, style: style, took: took)
        switch style {
        case .live:
            redraw(printing: lines)
        case .plain:
            if !lines.isEmpty { write(lines.map { $0 + "\n" }.joined()) }
        }
    }

    /// Starts redrawing (live) or the periodic status lines (plain) until `finish`.
    public func start(every interval: Duration = .milliseconds(500)) {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                self.tick()
            }
        }
        screen.withLock { screen in
            screen.refresher = task
            screen.lastStatus = model.now()
        }
    }

    /// Stops refreshing and leaves the final totals on screen.
    public func finish() {
        let task = screen.withLock { screen in
            defer { screen.refresher = nil }
            return screen.refresher
        }
        task?.cancel()
        let totals = ProgressText.totals(model.snapshot())
        switch style {
        case .live:
            screen.withLock { screen in
                write(Self.clear(screen.blockLines) + totals + "\n")
                screen.blockLines = 0
            }
        case .plain:
            write(totals + "\n")
        }
    }

    func tick() {
        switch style {
        case .live:
            redraw(printing: [])
        case .plain:
            let snapshot = model.snapshot()
            let milestone = Milestone(snapshot)
            let time = model.now()
            let due = screen.withLock { screen in
                let busy = !snapshot.running.isEmpty || snapshot.waitingElsewhere > 0
                let quietLongEnough = time.timeIntervalSince(screen.lastStatus) >= plainInterval
                guard busy, milestone != screen.lastMilestone || quietLongEnough else { return false }
                screen.lastStatus = time
                screen.lastMilestone = milestone
                return true
            }
            if due { write(ProgressText.status(snapshot) + "\n") }
        }
    }

    private func redraw(printing lines: [String]) {
        let block = ProgressText.block(model.snapshot(), width: width())
        screen.withLock { screen in
            // One write per frame, so the terminal never shows a half-drawn block.
            write(Self.clear(screen.blockLines) + lines.map { $0 + "\n" }.joined() + block.map { $0 + "\n" }.joined())
            screen.blockLines = block.count
        }
    }

    /// Moves the cursor up over the previous block and erases it and everything below.
    private static func clear(_ lines: Int) -> String {
        lines > 0 ? "\u{1B}[\(lines)A\r\u{1B}[J" : "\r\u{1B}[J"
    }
}

/// Columns of the terminal on `descriptor` (COLUMNS, or 100 when unknown).
func terminalWidth(_ descriptor: Int32) -> Int {
    var size = winsize()
    #if os(Linux)
    let request = UInt(TIOCGWINSZ)
    #else
    let request = TIOCGWINSZ
    #endif
    if ioctl(descriptor, request, &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 100
}

/// The words of the progress display; pure functions of events and snapshots.
public enum ProgressText {
    /// The permanent lines an event adds to the output; `took` is a finished run's wall time.
    public static func lines(for event: ExecutionEvent, style: ProgressRenderer.Style, took: Double? = nil) -> [String] {
        switch event {
        case .began(let toRun, let alreadyDone, let budget):
            let runs = toRun.count + alreadyDone
            return ["sweep: \(runs) run\(runs == 1 ? "" : "s"), \(alreadyDone) already done, \(toRun.count) to run (\(budget))"]
        case .started(let run, let attempt):
            // The live block shows running runs; a log needs the line.
            guard style == .plain else { return [] }
            return ["start    \(name(run))\(attempt > 1 ? " (attempt \(attempt))" : "")"]
        case .finished(let run, let status, let detail):
            let word: String
            switch status {
            case .succeeded: word = "done   "
            case .failed: word = "FAILED "
            case .interrupted: word = "stopped"
            default: word = status.rawValue
            }
            return ["\(word)  \(name(run))\(took.map { " in \(duration($0))" } ?? "")\(detail.map { ": \($0)" } ?? "")"]
        case .retrying(let run, let attempt, let after):
            return ["retry    \(name(run)) (attempt \(attempt)) after \(after)"]
        case .skipped(let run, let reason):
            return ["skipped  \(name(run)): \(reason)"]
        case .waitingElsewhere(let run):
            return ["waiting  \(name(run)): another sweep process is running it"]
        case .finishedElsewhere(let run, let status):
            return ["\(status == .succeeded ? "done   " : status.rawValue)  \(name(run)) (by another sweep process)"]
        case .stopping(let reason):
            if case .signal(let signal) = reason {
                let again = signal == SIGINT ? "press Ctrl-C again" : "send \(signalName(signal)) again"
                return ["\(reason): stopping the running runs (they resume next time); \(again) to kill them now"]
            }
            return ["\(reason): no new runs start; the running ones finish"]
        }
    }

    /// The live block: a totals line, then one line per running run, cut to the terminal width
    /// (a wrapped line would throw the redraw off).
    public static func block(_ snapshot: ProgressSnapshot, width: Int) -> [String] {
        let header = status(snapshot, withRuns: false)
        let runs = snapshot.running.map { line -> String in
            "  " + runText(line)
        }
        return ([header] + runs).map { fit($0, width: max(20, width - 1)) }
    }

    /// One line: counts, ETA and (unless `withRuns` is false) the running runs in brief.
    public static func status(_ snapshot: ProgressSnapshot, withRuns: Bool = true) -> String {
        var parts = ["\(snapshot.done)/\(snapshot.runs) done"]
        if snapshot.failed > 0 { parts.append("\(snapshot.failed) failed") }
        if snapshot.skipped > 0 { parts.append("\(snapshot.skipped) skipped") }
        if snapshot.interrupted > 0 { parts.append("\(snapshot.interrupted) interrupted") }
        parts.append("\(snapshot.running.count) running")
        if snapshot.waitingElsewhere > 0 { parts.append("\(snapshot.waitingElsewhere) in another sweep") }
        parts.append("\(snapshot.remaining - snapshot.running.count) waiting")
        if let eta = snapshot.eta { parts.append(etaText(eta)) }
        if let stopping = snapshot.stopping { parts.append(stopping.description) }
        var text = parts.joined(separator: " · ")
        if withRuns, !snapshot.running.isEmpty {
            text += " | " + snapshot.running.map(runText).joined(separator: " | ")
        }
        return text
    }

    public static func totals(_ snapshot: ProgressSnapshot) -> String {
        var parts = ["\(snapshot.succeeded) succeeded", "\(snapshot.alreadyDone) already done"]
        if snapshot.failed > 0 { parts.append("\(snapshot.failed) failed") }
        if snapshot.skipped > 0 { parts.append("\(snapshot.skipped) skipped") }
        if snapshot.interrupted > 0 { parts.append("\(snapshot.interrupted) interrupted") }
        let left = snapshot.remaining
        if left > 0 { parts.append("\(left) not run") }
        return "sweep: " + parts.joined(separator: ", ")
    }

    static func runText(_ line: ProgressSnapshot.RunLine) -> String {
        var text = line.title
        if line.attempt > 1 { text += " (attempt \(line.attempt))" }
        if let training = line.training {
            // The epoch in progress, from 1 (progress.jsonl counts completed epochs), as the engine's messages say.
            text += "  epoch \(min(training.epoch + 1, max(training.epochs, 1)))/\(training.epochs)"
                + "  loss \(String(format: "%.4f", training.loss))"
        } else {
            text += "  starting, \(duration(line.elapsed))"
        }
        if let left = line.left { text += "  ETA \(duration(left))" }
        return text
    }

    /// "ETA 21m04s"; a lower bound when some runs have nothing to time them by, and no
    /// number at all when no run has.
    public static func etaText(_ eta: RemainingTime) -> String {
        guard eta.untimedRuns > 0 else { return "ETA \(duration(eta.seconds))" }
        let untimed = "\(eta.untimedRuns) run\(eta.untimedRuns == 1 ? "" : "s") not timed yet"
        guard eta.untimedRuns < eta.runs else { return "ETA unknown (\(untimed): no past runs of their groups)" }
        return "ETA ≥ \(duration(eta.seconds)) (+\(untimed))"
    }

    static func name(_ run: PlannedRun) -> String { "\(SweepProgress.title(of: run)) [\(run.id)]" }

    /// "45s", "3m05s", "2h03m".
    public static func duration(_ seconds: Double) -> String { DurationText.of(seconds) }

    static func fit(_ line: String, width: Int) -> String {
        line.count <= width ? line : String(line.prefix(width - 1)) + "…"
    }
}
