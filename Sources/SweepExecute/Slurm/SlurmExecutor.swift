import Foundation
import RunContract
import SweepCore
import SweepLedger

/// Runs a plan on a Slurm cluster: the runs that are left go out as job arrays, per dependency
/// level, in tasks of `TaskPacking.runsPerTask` runs and arrays within the cluster's MaxArraySize
/// (`ClusterLimits`), and `execute` returns once they are submitted (or, with `wait`, once they
/// have ended).
/// The ledger stays the source of truth, as with `LocalExecutor`: a submitted run is `running`
/// with its array task recorded, and `SlurmReconciler` settles it from its run directory.
///
/// Levels wait for the array tasks they need with `afterany`, and each task checks its own
/// dependencies before starting the engine: `afterok` on an array waits for every task of it, so
/// one failure would hold the whole next level pending forever instead of skipping only the
/// failed run's dependents.
///
/// ```swift
/// let executor = SlurmExecutor(workspace: workspace, ledger: ledger, options: RunOptions(plan.executor),
///                              settings: plan.executor.slurm)
/// let summary = try await executor.execute(plan)   // summary.submissions: the job arrays
/// ```
public struct SlurmExecutor: Executor {
    public let workspace: Workspace
    public let ledger: Ledger
    public var options: RunOptions
    public var settings: SlurmSettings
    /// Follow the jobs until every run has ended, submitting failed runs again within their retry
    /// budget (`sweep run --wait`); otherwise return right after submitting.
    public var wait: Bool
    /// How often `wait` asks Slurm.
    public var pollInterval: Duration
    let client: SlurmClient

    public init(workspace: Workspace, ledger: Ledger, options: RunOptions = RunOptions(),
                settings: SlurmSettings = SlurmSettings(), wait: Bool = false, pollInterval: Duration = .seconds(10),
                client: SlurmClient = SlurmClient()) {
        self.workspace = workspace; self.ledger = ledger; self.options = options; self.settings = settings
        self.wait = wait; self.pollInterval = pollInterval; self.client = client
    }

    /// Threads of each run: `cpus_per_task`, else `--threads`, else 1.
    var cpusPerTask: Int { settings.cpusPerTask ?? options.threadsPerRun ?? 1 }

    public func execute(_ plan: Plan, progress: (any ProgressSink)?, stop: StopSignal) async throws -> RunSummary {
        let commands = try EngineCommand.all(for: plan)
        try ledger.register(plan)
        let recovered = try ledger.recoverOrphans(host: options.host)
        let reconciler = SlurmReconciler(ledger: ledger, client: client)
        _ = try await reconciler.reconcile()

        var session = Session(plan: plan)
        // Runs at once: one per array task the cluster can run at the same time.
        let cpus = try? await client.limits(partition: settings.partition, qos: nil).cpus
        let budget = ResourceBudget(slots: max(1, width(cpus: cpus) ?? session.runs.count),
                                    threadsPerRun: cpusPerTask, cores: cpusPerTask * max(1, session.runs.count))
        let before = try ledger.records(session.runs.map(\.id))
        session.doneBefore = Set(before.filter { $0.value.status == .succeeded }.map(\.key))
        if options.rerun { session.doneBefore = [] }
        progress?.handle(.began(toRun: session.runs.filter { !session.doneBefore.contains($0.id) },
                                alreadyDone: session.doneBefore.count, budget: budget))

        try await submitRemaining(&session, commands: commands, firstRound: true, progress: progress)
        var stoppedBy: StopReason?
        if wait {
            let trap = options.trapSignals ? SignalTrap(stop: stop) : nil
            defer { trap?.cancel() }
            stoppedBy = try await follow(&session, commands: commands, reconciler: reconciler, progress: progress, stop: stop)
        }
        return try summary(session, budget: budget, recovered: recovered, stoppedBy: stoppedBy)
    }

    /// Cancels the array tasks of `runs` (every run Slurm holds for this workspace when nil),
    /// waits up to `patience` for Slurm to end them, and records them in the ledger.
    public func cancel(_ runs: [RunID]?, patience: Duration = .seconds(60)) async throws -> [RunID] {
        let reconciler = SlurmReconciler(ledger: ledger, client: client)
        _ = try await reconciler.reconcile()
        var held = try ledger.batchRuns()
        if let runs { held = held.filter { Set(runs).contains($0.key) } }
        guard !held.isEmpty else { return [] }
        try await client.cancel(Set(held.values).sorted())
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: patience)
        while true {
            let report = try await reconciler.reconcile()
            if report.live.keys.allSatisfy({ held[$0] == nil }) || clock.now > deadline { break }
            try await Task.sleep(for: .milliseconds(300))
        }
        return held.keys.sorted()
    }

    // MARK: one invocation

    struct Session {
        let plan: Plan
        /// Unique runs in plan order: levels, tasks and arrays are filled in this order.
        let runs: [PlannedRun]
        var doneBefore: Set<RunID> = []
        /// Runs submitted by this invocation.
        var submittedNow: Set<RunID> = []
        /// Runs seen running in Slurm (their `started` event went out).
        var seenRunning: Set<RunID> = []
        var submissions: [BatchSubmission] = []

        init(plan: Plan) {
            self.plan = plan
            var seen = Set<RunID>()
            runs = plan.runs.filter { seen.insert($0.id).inserted }
        }
    }

    /// Where a run stands when a submission is planned.
    private enum Standing {
        case done
        /// In Slurm's hands: its array task.
        case held(job: String)
        case submitting(level: Int)
        /// Running in a local `sweep`, or claimed by another process just now: not waited for here.
        case elsewhere
        /// Will not succeed in this invocation: "failed: exit code 3", "was skipped", ...
        case blocked(String)
    }

    /// Claims and submits every run that can go now, level by level.
    private func submitRemaining(_ session: inout Session, commands: [String?: EngineCommand], firstRound: Bool,
                                 progress: (any ProgressSink)?) async throws {
        let ids = session.runs.map(\.id)
        let outside = Set(session.runs.flatMap { $0.needs.values }).subtracting(ids)
        let records = try ledger.records(ids + outside.sorted())
        let held = try ledger.batchRuns()
        let rerun = options.rerun && firstRound
        let retries = options.retryFailed && firstRound ? Int(Int32.max) : options.retries

        var standing: [RunID: Standing] = [:]
        for id in outside {
            standing[id] = records[id]?.status == .succeeded ? .done : .blocked("is not part of this plan and has not succeeded")
        }
        var levels: [Int: [PlannedRun]] = [:]
        for run in session.runs {
            let record = records[run.id]
            if let job = held[run.id] { standing[run.id] = .held(job: job); continue }
            switch record?.status {
            case .succeeded? where !rerun: standing[run.id] = .done; continue
            case .running?: standing[run.id] = .elsewhere; continue
            case .interrupted? where !firstRound:
                // Stopped while this invocation followed it (cancelled, timed out): resumed by the next `sweep run`.
                standing[run.id] = .blocked("was interrupted: " + (record?.reason ?? "stopped")); continue
            default: break
            }
            var level = 0
            var problem: String?
            var waitsElsewhere = false
            for (_, dependency) in run.needs.sorted(by: { $0.key < $1.key }) {
                switch standing[dependency] ?? .blocked("is unknown") {
                case .done, .held: break
                case .submitting(let dependencyLevel): level = max(level, dependencyLevel + 1)
                case .elsewhere: waitsElsewhere = true
                case .blocked(let why): problem = problem ?? SkipReason.needs(run, on: dependency) + ", which " + why
                }
            }
            if let problem {
                try ledger.skip(run.id, reason: problem)
                if record?.status != .skipped || record?.reason != problem { progress?.handle(.skipped(run, reason: problem)) }
                standing[run.id] = .blocked("was skipped")
                continue
            }
            if waitsElsewhere { standing[run.id] = .elsewhere; continue }
            if try ledger.claim(run.id, pid: options.pid, host: options.host, retries: retries, rerun: rerun) {
                standing[run.id] = .submitting(level: level)
                levels[level, default: []].append(run)
            } else {
                let now = try ledger.record(run.id)
                switch now?.status {
                case .succeeded?: standing[run.id] = .done
                case .failed?: standing[run.id] = .blocked("failed: " + (now.map(SkipReason.failure) ?? "failed"))
                default: standing[run.id] = .elsewhere
                }
            }
        }

        guard !levels.isEmpty else { return }
        var jobs = held
        var submitted = Set<RunID>()
        do {
            let layout = try await layout(levels.keys.sorted().compactMap { levels[$0] })
            for level in levels.keys.sorted() {
                for array in TaskPacking.arrays(levels[level] ?? [], perTask: layout.packing.runsPerTask,
                                                maxArraySize: layout.limits.maxArraySize) {
                    var submission = try await submit(array, level: level, session: session, jobs: jobs, rerun: rerun,
                                                      commands: commands)
                    submission.packing = layout.packing.why
                    for (index, task) in array.enumerated() {
                        for run in task { jobs[run.id] = submission.job + "_" + String(index) }
                    }
                    let runs = array.flatMap { $0 }
                    try ledger.recordBatchJobs(Dictionary(uniqueKeysWithValues: runs.map { ($0.id, jobs[$0.id] ?? "") }))
                    session.submissions.append(submission)
                    session.submittedNow.formUnion(runs.map(\.id))
                    submitted.formUnion(runs.map(\.id))
                }
            }
        } catch {
            // What did not reach Slurm gives its claim back.
            for run in levels.values.joined() where !submitted.contains(run.id) {
                try ledger.finish(run.id, status: .interrupted, exitCode: nil, stderrTail: nil, metrics: nil,
                                  reason: "not submitted: \(error)")
            }
            throw error
        }
    }

    /// The cluster's limits and the packing of the runs that go out now (`levels`, by level).
    private func layout(_ levels: [[PlannedRun]]) async throws -> (limits: ClusterLimits, packing: TaskPacking) {
        let qos = settings.sbatchArguments.last { $0.hasPrefix("--qos=") }.map { String($0.dropFirst("--qos=".count)) }
        let limits = try await client.limits(partition: settings.partition, qos: qos)
        let timings = try ledger.groupTimings()
        let width = width(cpus: limits.cpus)
        let packing = try TaskPacking.choose(
            levels: levels, explicit: settings.runsPerTask, expected: { GroupTiming.expectedSeconds(of: $0, timings: timings) },
            timeLimit: settings.time.flatMap(TaskPacking.seconds(ofSlurmTime:)), width: width, capacity: limits.capacity)
        return (limits, packing)
    }

    /// Array tasks that can run at once: `max_concurrent`, else `--slots`, else the partition's
    /// CPUs / cpus_per_task.
    private func width(cpus: Int?) -> Int? {
        settings.maxConcurrent ?? options.slots ?? cpus.map { max(1, $0 / cpusPerTask) }
    }

    /// Prepares the run directories of one array's tasks (the runs each task runs in turn) and
    /// submits them as one job array, indices 0 ..< tasks.
    private func submit(_ tasks: [[PlannedRun]], level: Int, session: Session, jobs: [RunID: String], rerun: Bool,
                        commands: [String?: EngineCommand]) async throws -> BatchSubmission {
        let files = FileManager.default
        let slurmDirectory = workspace.root.appendingPathComponent("slurm")
        try files.createDirectory(at: slurmDirectory.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let script = slurmDirectory.appendingPathComponent("array-task.sh")
        try ContractJSON.writeAtomically(Data(ArrayTask.script.utf8), to: script)

        let runs = tasks.flatMap { $0 }
        for run in runs {
            let directory = workspace.runDirectory(run.id)
            if rerun { try? files.removeItem(at: directory) }
            try files.createDirectory(at: directory, withIntermediateDirectories: true)
            let config = run.config.resolvingRunReferences(in: workspace).canonical
            try ContractJSON.writeAtomically(Data(config.utf8), to: directory.appendingPathComponent(RunFiles.config))
            // This attempt writes its own; stale ones would pass for its result.
            try? files.removeItem(at: directory.appendingPathComponent(RunFiles.metrics))
            try? files.removeItem(at: directory.appendingPathComponent(ExitStatusFile.name))
            try? files.removeItem(at: directory.appendingPathComponent(ArrayTask.startedFile))
            guard let command = commands[run.engine] else { throw ExecuteError.engineNotFound(run.engine ?? "engine", searched: []) }
            // The engine's own variables (a pinned BLAS core) through env(1): the script stays the same.
            let variables = command.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            try ArrayTask.prepare(run, in: directory, command: (variables.isEmpty ? [] : ["/usr/bin/env"] + variables)
                                  + [command.executable]
                                  + command.arguments(config: directory.appendingPathComponent(RunFiles.config), out: directory))
        }
        let list = tasks.enumerated().map { index, task in "\(index) " + task.map(\.id.rawValue).joined(separator: " ") + "\n" }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let listFile = slurmDirectory.appendingPathComponent("\(stamp)-\(options.pid)-level\(level)-\(session.submissions.count).tasks")
        try ContractJSON.writeAtomically(Data(list.joined().utf8), to: listFile)

        let perTask = tasks.map(\.count).max() ?? 1
        var array = ArrayIndices.compact(Array(tasks.indices))
        if let limit = settings.maxConcurrent ?? options.slots { array += "%\(limit)" }
        let needed = Set(runs.flatMap { run in run.needs.values.compactMap { jobs[$0] } })
        let dependency = needed.isEmpty ? nil : "afterany:" + Self.dependencyList(needed, submissions: session.submissions)

        var arguments = ["--job-name=sweep-\(session.plan.name)", "--array=\(array)",
                         // sbatch expands %-patterns in the path: a literal % is %%.
                         "--output=" + slurmDirectory.appendingPathComponent("logs").path
                             .replacingOccurrences(of: "%", with: "%%") + "/%A_%a.log",
                         "--cpus-per-task=\(cpusPerTask)"]
        if let partition = settings.partition { arguments.append("--partition=\(partition)") }
        // A packed task's limit derived from executor.timeout covers each of its runs.
        if let time = settings.time ?? options.timeout.map({ Self.minutes($0 * perTask) }) { arguments.append("--time=\(time)") }
        if let memory = settings.memory { arguments.append("--mem=\(memory)") }
        if let dependency { arguments += ["--dependency=\(dependency)", "--kill-on-invalid-dep=yes"] }
        arguments += settings.sbatchArguments
        arguments += [script.path, workspace.root.appendingPathComponent("runs").path, listFile.path]
        let job = try await client.submit(arguments)
        return BatchSubmission(job: job, array: array, runs: runs.map(\.id), level: level, dependency: dependency,
                               runsPerTask: perTask)
    }

    /// "1234:1240_3:1240_5": whole arrays of this invocation when every task of them is needed,
    /// single tasks otherwise.
    static func dependencyList(_ tasks: Set<String>, submissions: [BatchSubmission]) -> String {
        var whole: [String] = []
        var remaining = tasks
        for submission in submissions {
            let its = Set(ArrayIndices.expand(submission.array).map { "\(submission.job)_\($0)" })
            if !its.isEmpty && its.isSubset(of: remaining) {
                whole.append(submission.job)
                remaining.subtract(its)
            }
        }
        return (whole + remaining.sorted()).joined(separator: ":")
    }

    /// A timeout as Slurm's --time in minutes, rounded up.
    static func minutes(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(max(1, Int((seconds / 60).rounded(.up))))
    }

    // MARK: following

    /// Polls Slurm until none of the plan's runs is held there and nothing more can be submitted.
    private func follow(_ session: inout Session, commands: [String?: EngineCommand], reconciler: SlurmReconciler,
                        progress: (any ProgressSink)?, stop: StopSignal) async throws -> StopReason? {
        let ids = Set(session.runs.map(\.id))
        while true {
            let stopped = await withTaskGroup(of: Bool.self) { group in
                group.addTask { [pollInterval] in
                    try? await Task.sleep(for: pollInterval)
                    return false
                }
                group.addTask {
                    await stop.stopping.wait()
                    return !Task.isCancelled
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            if stopped || stop.isRequested {
                if let reason = stop.reason { progress?.handle(.stopping(reason)) }
                return stop.reason
            }
            let report = try await reconciler.reconcile()
            try tell(report, session: &session, progress: progress)
            if report.live.keys.contains(where: ids.contains) { continue }
            let submittedBefore = session.submissions.count
            try await submitRemaining(&session, commands: commands, firstRound: false, progress: progress)
            if session.submissions.count == submittedBefore { return nil }
        }
    }

    private func tell(_ report: SlurmReconciler.Report, session: inout Session, progress: (any ProgressSink)?) throws {
        guard let progress else { return }
        // A task that runs several runs starts them one after the other: a run has started when
        // its task wrote that it did.
        for (id, entry) in report.live where entry.state?.rawValue == "RUNNING" && !session.seenRunning.contains(id) {
            guard let run = session.plan.run(id), ArrayTask.started(in: workspace.runDirectory(id), job: entry.job) else { continue }
            session.seenRunning.insert(id)
            progress.handle(.started(run, attempt: try ledger.record(id)?.attempts ?? 1))
        }
        for ended in report.ended {
            guard let run = session.plan.run(ended.id) else { continue }
            session.seenRunning.remove(ended.id)
            let record = try ledger.record(ended.id)
            switch ended.status {
            case .skipped:
                progress.handle(.skipped(run, reason: ended.detail ?? "skipped"))
            case .failed where (record.map { $0.attempts <= options.retries } ?? false):
                progress.handle(.retrying(run, attempt: (record?.attempts ?? 1) + 1, after: ended.detail ?? "failed"))
            default:
                progress.handle(.finished(run, status: ended.status, detail: ended.detail))
            }
        }
    }

    private func summary(_ session: Session, budget: ResourceBudget, recovered: [RunID],
                         stoppedBy: StopReason?) throws -> RunSummary {
        var summary = RunSummary(budget: budget)
        summary.recoveredOrphans = recovered
        summary.stoppedBy = stoppedBy
        summary.submissions = session.submissions
        let records = try ledger.records(session.runs.map(\.id))
        let held = try ledger.batchRuns()
        for run in session.runs {
            switch records[run.id]?.status ?? .planned {
            case .succeeded:
                if session.doneBefore.contains(run.id) { summary.alreadyDone.append(run.id) } else { summary.succeeded.append(run.id) }
            case .failed: summary.failed.append(run.id)
            case .skipped: summary.skipped.append(run.id)
            case .interrupted: summary.interrupted.append(run.id)
            case .planned: summary.notStarted.append(run.id)
            case .running:
                if held[run.id] != nil { summary.submitted.append(run.id) } else { summary.runningElsewhere.append(run.id) }
            }
        }
        return summary
    }
}
