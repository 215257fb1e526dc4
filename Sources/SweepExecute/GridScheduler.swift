import Foundation
import RunContract
import SweepCore
import SweepLedger

/// Walks a plan's DAG: a run starts when every run it needs has succeeded, in plan order, at most
/// `slots` at a time; a failure skips its dependents (with the reason) while the rest of the grid
/// goes on. Every start is a ledger claim, so two `sweep` processes on one workspace never run
/// the same run twice; a run another process holds is watched until it ends. No terminal I/O
/// here: what happens is told to the progress sink.
struct GridScheduler<Launcher: RunLauncher>: Sendable {
    let plan: Plan
    let ledger: Ledger
    let launcher: Launcher
    let options: RunOptions
    let stop: StopSignal
    let progress: (any ProgressSink)?
    /// Set when nothing new may start (a stop request or fail-fast); retries count as starts.
    private let launchesClosed = Latch()

    init(plan: Plan, ledger: Ledger, launcher: Launcher, options: RunOptions, stop: StopSignal,
         progress: (any ProgressSink)?) {
        self.plan = plan; self.ledger = ledger; self.launcher = launcher; self.options = options
        self.stop = stop; self.progress = progress
    }

    /// The retry budget a claim is checked against: `--retry-failed` lifts the recorded failures,
    /// and the per-invocation attempt count (`attempts`) still bounds the retries.
    private var claimBudget: Int { options.retryFailed ? Int(Int32.max) : options.retries }

    private enum Event: Sendable {
        case ended(RunID, RunEnd)
        case stopRequested
        case tick
    }

    private enum RunEnd: Sendable {
        case succeeded
        case failed(String)
        case interrupted(String)
    }

    func execute() async throws -> RunSummary {
        try ledger.register(plan)
        let recovered = try ledger.recoverOrphans(host: options.host)
        var book = try RunBook(plan: plan, ledger: ledger, rerun: options.rerun)
        let budget = ResourceBudget(slots: options.slots, threadsPerRun: options.threadsPerRun,
                                    cores: options.cores, runs: book.pendingCount)
        progress?.handle(.began(toRun: book.runs.filter { book.state[$0.id] != .alreadyDone },
                                alreadyDone: book.runs.count - book.pendingCount, budget: budget))
        for (run, reason) in book.unreachable { try skip(run.id, reason: reason, in: &book) }

        var stoppedBy: StopReason?
        var tickPending = false
        try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask { [stop] in
                await stop.stopping.wait()
                return .stopRequested
            }
            while true {
                // The stop request itself may be set before its event is handled below.
                if !launchesClosed.isSet && !stop.isRequested {
                    while book.running < budget.slots, let run = book.popReady() {
                        try start(run, threads: threads(for: run, book: &book, budget: budget), in: &book, group: &group)
                    }
                }
                let waitForOthers = !book.watching.isEmpty && !launchesClosed.isSet
                if book.running == 0 && !waitForOthers { break }
                if waitForOthers && !tickPending {
                    tickPending = true
                    group.addTask { [interval = options.ledgerPollInterval] in
                        try? await Task.sleep(for: interval)
                        return .tick
                    }
                }
                guard let event = try await group.next() else { break }
                switch event {
                case .ended(let id, let end):
                    book.running -= 1
                    book.threadsInUse -= book.threads.removeValue(forKey: id) ?? 0
                    try ended(id, end, in: &book, stoppedBy: &stoppedBy)
                case .stopRequested:
                    guard let reason = stop.reason else { break }
                    // A signal outranks fail-fast: it decides the exit code.
                    stoppedBy = reason
                    launchesClosed.set()
                    progress?.handle(.stopping(reason))
                case .tick:
                    tickPending = false
                    try checkWatched(in: &book)
                }
            }
            group.cancelAll()
        }
        return book.summary(budget: budget, recovered: recovered, stoppedBy: stoppedBy)
    }

    // MARK: starting

    /// The budget's threads, or every idle core for a run that starts alone (nothing else is
    /// ready) when the engine's results do not depend on the thread count (run contract): a
    /// pretraining run everything waits for would otherwise leave cores idle. Not when the user
    /// or the manifest fixed the threads per run.
    private func threads(for run: PlannedRun, book: inout RunBook, budget: ResourceBudget) -> Int {
        guard options.threadsPerRun == nil, plan.engine(of: run).resultsIndependentOfThreadCount, !book.hasReady() else {
            return budget.threadsPerRun
        }
        return max(budget.threadsPerRun, budget.cores - book.threadsInUse)
    }

    private func start(_ run: PlannedRun, threads: Int, in book: inout RunBook,
                       group: inout ThrowingTaskGroup<Event, any Error>) throws {
        let firstClaim = book.claimed.insert(run.id).inserted
        let claimed = try ledger.claim(run.id, pid: options.pid, host: options.host, retries: claimBudget,
                                       rerun: options.rerun && firstClaim)
        guard claimed else { return try notClaimed(run, in: &book) }
        book.state[run.id] = .running
        book.running += 1
        book.threads[run.id] = threads
        book.threadsInUse += threads
        group.addTask { .ended(run.id, try await attempts(run, threads: threads)) }
    }

    /// Someone else owns the run, or its state allows no attempt: learn which from the ledger.
    private func notClaimed(_ run: PlannedRun, in book: inout RunBook) throws {
        let record = try ledger.record(run.id)
        let wasWatched = book.heldElsewhere.contains(run.id)
        switch record?.status {
        case .succeeded?:
            book.state[run.id] = .alreadyDone
            if wasWatched { progress?.handle(.finishedElsewhere(run, status: .succeeded)) }
            satisfied(run.id, in: &book)
        case .running?:
            book.state[run.id] = .watching
            book.watching.insert(run.id)
            if book.heldElsewhere.insert(run.id).inserted { progress?.handle(.waitingElsewhere(run)) }
        case .failed?:
            let why = record.map(SkipReason.failure) ?? "failed"
            try failed(run, why: why, note: wasWatched ? nil : "retry budget of \(options.retries) spent (--retry-failed to try again)",
                       in: &book)
        case .planned?, .interrupted?, .skipped?:
            // Claimable, so another process took and released it between our two statements: look again shortly.
            book.state[run.id] = .watching
            book.watching.insert(run.id)
        case nil:
            try failed(run, why: "the ledger has no record of this run", in: &book)
        }
    }

    /// Runs attempts of one claimed run until it succeeds, is interrupted, or its retries are spent.
    private func attempts(_ run: PlannedRun, threads: Int) async throws -> RunEnd {
        var number = 1
        while true {
            progress?.handle(.started(run, attempt: number))
            let attempt = RunAttempt(run: run, number: number, startFresh: options.rerun && number == 1, threads: threads,
                                     overall: try ledger.record(run.id)?.attempts)
            let outcome = await launcher.launch(attempt, stop: stop)
            switch outcome {
            case .succeeded(let metrics):
                try ledger.finish(run.id, status: .succeeded, exitCode: 0, stderrTail: nil, metrics: metrics, reason: nil)
                return .succeeded
            case .interrupted(let reason):
                try ledger.finish(run.id, status: .interrupted, exitCode: nil, stderrTail: nil, metrics: nil, reason: reason)
                return .interrupted(reason)
            case .failed(let exitCode, let stderrTail, let reason):
                try ledger.finish(run.id, status: .failed, exitCode: exitCode, stderrTail: stderrTail,
                                  metrics: nil, reason: reason)
                let why = outcome.summary ?? "failed"
                // Bad input (the config, or a file it names) fails the same way every time.
                guard number <= options.retries, exitCode != RunExit.badInput, !launchesClosed.isSet, !stop.isRequested,
                      try ledger.claim(run.id, pid: options.pid, host: options.host, retries: claimBudget, rerun: false)
                else { return .failed(why) }
                number += 1
                progress?.handle(.retrying(run, attempt: number, after: why))
            }
        }
    }

    // MARK: endings

    private func ended(_ id: RunID, _ end: RunEnd, in book: inout RunBook, stoppedBy: inout StopReason?) throws {
        guard let run = plan.run(id) else { return }
        switch end {
        case .succeeded:
            book.state[id] = .succeeded
            progress?.handle(.finished(run, status: .succeeded, detail: nil))
            satisfied(id, in: &book)
        case .failed(let why):
            try failed(run, why: why, in: &book)
            if options.failFast && !launchesClosed.isSet {
                stoppedBy = .failFast(id)
                launchesClosed.set()
                progress?.handle(.stopping(.failFast(id)))
            }
        case .interrupted(let reason):
            book.state[id] = .interrupted
            progress?.handle(.finished(run, status: .interrupted, detail: reason))
        }
    }

    private func satisfied(_ id: RunID, in book: inout RunBook) {
        for dependent in book.dependents[id, default: []] where book.state[dependent] == .waiting {
            book.unmet[dependent, default: 1] -= 1
            if book.unmet[dependent] == 0 { book.makeReady(dependent) }
        }
    }

    /// `note` adds to what the progress shows, not to what dependents' skip reasons say.
    private func failed(_ run: PlannedRun, why: String, note: String? = nil, in book: inout RunBook) throws {
        book.state[run.id] = .failed
        progress?.handle(.finished(run, status: .failed, detail: note.map { "\(why); \($0)" } ?? why))
        for dependent in book.dependents[run.id, default: []] {
            try skip(dependent, reason: Self.needsText(dependent: dependent, on: run.id, plan: plan) + ", which failed: \(why)",
                     in: &book)
        }
    }

    /// Marks a run that can no longer start skipped, and its own dependents after it.
    private func skip(_ id: RunID, reason: String, in book: inout RunBook) throws {
        guard let state = book.state[id], state == .waiting || state == .ready, let run = plan.run(id) else { return }
        book.state[id] = .skipped
        try ledger.skip(id, reason: reason)
        progress?.handle(.skipped(run, reason: reason))
        for dependent in book.dependents[id, default: []] {
            try skip(dependent, reason: Self.needsText(dependent: dependent, on: id, plan: plan) + ", which was skipped",
                     in: &book)
        }
    }

    /// Runs another process holds: once they are no longer running, try to claim them again.
    private func checkWatched(in book: inout RunBook) throws {
        // A `sweep` killed while we wait leaves its runs "running": reclaim them.
        try ledger.recoverOrphans(host: options.host)
        let records = try ledger.records(Array(book.watching))
        for id in book.watching.sorted() where records[id]?.status != .running {
            book.makeReady(id)
        }
    }

    static func needsText(dependent: RunID, on dependency: RunID, plan: Plan) -> String {
        SkipReason.needs(plan.run(dependent), on: dependency)
    }
}

/// The scheduler's view of every run of the plan.
struct RunBook {
    enum State: Equatable {
        case waiting, ready, running, watching, succeeded, alreadyDone, failed, skipped, interrupted
    }

    /// Unique runs in plan order.
    let runs: [PlannedRun]
    var state: [RunID: State] = [:]
    /// Dependencies not yet satisfied, per waiting run.
    var unmet: [RunID: Int] = [:]
    var dependents: [RunID: [RunID]] = [:]
    /// Plan positions of ready runs.
    private var ready = PlanOrderQueue([])
    private var position: [RunID: Int] = [:]
    var running = 0
    /// Threads of each running run, and their sum.
    var threads: [RunID: Int] = [:]
    var threadsInUse = 0
    var watching: Set<RunID> = []
    /// Runs seen running in another process at some point.
    var heldElsewhere: Set<RunID> = []
    /// Runs claimed at least once in this invocation (`--rerun` applies to the first claim only).
    var claimed: Set<RunID> = []
    /// Runs whose dependency is outside the plan and has not succeeded.
    private(set) var unreachable: [(run: PlannedRun, reason: String)] = []

    init(plan: Plan, ledger: Ledger, rerun: Bool) throws {
        var seen = Set<RunID>()
        runs = plan.runs.filter { seen.insert($0.id).inserted }
        for (index, run) in runs.enumerated() { position[run.id] = index }
        let outside = Set(runs.flatMap { $0.needs.values }).subtracting(seen)
        let records = try ledger.records(runs.map(\.id) + outside.sorted())
        let succeededBefore = { (id: RunID) in records[id]?.status == .succeeded }

        for run in runs {
            state[run.id] = !rerun && succeededBefore(run.id) ? .alreadyDone : .waiting
        }
        var blocked = Set<RunID>()
        for run in runs where state[run.id] == .waiting {
            var count = 0
            for (name, dependency) in run.needs.sorted(by: { $0.key < $1.key }) {
                if seen.contains(dependency) {
                    guard state[dependency] != .alreadyDone else { continue }
                    dependents[dependency, default: []].append(run.id)
                    count += 1
                } else if !succeededBefore(dependency) {
                    unreachable.append((run, "needs `\(name)` (run \(dependency)), which is not part of this plan and has not succeeded"))
                    blocked.insert(run.id)
                }
            }
            unmet[run.id] = count
        }
        for run in runs where state[run.id] == .waiting && unmet[run.id] == 0 && !blocked.contains(run.id) {
            makeReady(run.id)
        }
    }

    var pendingCount: Int { state.values.filter { $0 != .alreadyDone }.count }

    mutating func makeReady(_ id: RunID) {
        guard let index = position[id] else { return }
        state[id] = .ready
        watching.remove(id)
        ready.insert(index)
    }

    /// Whether some run is ready to start (entries of runs skipped since are dropped on the way).
    mutating func hasReady() -> Bool {
        while let index = ready.popFirst() {
            if state[runs[index].id] == .ready {
                ready.insert(index)
                return true
            }
        }
        return false
    }

    /// The next ready run in plan order; runs skipped since they became ready are passed over.
    mutating func popReady() -> PlannedRun? {
        while let index = ready.popFirst() {
            let run = runs[index]
            if state[run.id] == .ready { return run }
        }
        return nil
    }

    func summary(budget: ResourceBudget, recovered: [RunID], stoppedBy: StopReason?) -> RunSummary {
        var summary = RunSummary(budget: budget)
        summary.recoveredOrphans = recovered
        summary.stoppedBy = stoppedBy
        for run in runs {
            switch state[run.id] ?? .waiting {
            case .succeeded: summary.succeeded.append(run.id)
            case .alreadyDone: summary.alreadyDone.append(run.id)
            case .failed: summary.failed.append(run.id)
            case .skipped: summary.skipped.append(run.id)
            case .interrupted: summary.interrupted.append(run.id)
            case .watching: summary.runningElsewhere.append(run.id)
            case .waiting, .ready, .running: summary.notStarted.append(run.id)
            }
        }
        return summary
    }
}
