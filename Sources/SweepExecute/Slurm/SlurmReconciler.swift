import Foundation
import RunContract
import SweepCore
import SweepLedger

/// Brings the ledger up to date with the runs it handed to Slurm. A run's outcome comes from its
/// run directory (the exit-status file the array task writes, metrics.json, stderr.log); Slurm
/// says only whether the task is still alive, and, when the task wrote nothing (cancelled while
/// pending, killed, out of memory), how it ended: squeue while the controller remembers the job,
/// else sacct when accounting is on.
public struct SlurmReconciler: Sendable {
    public let ledger: Ledger
    let client: SlurmClient

    public init(ledger: Ledger, client: SlurmClient = SlurmClient()) {
        self.ledger = ledger; self.client = client
    }

    /// What one pass found.
    public struct Report: Sendable {
        /// Runs that ended since the last pass, with their new state and why.
        public var ended: [(id: RunID, status: RunStatus, detail: String?)] = []
        /// Runs still in Slurm's hands, with their task ("1234_7") and its state.
        public var live: [RunID: (job: String, state: SlurmJobState?)] = [:]
        /// Set when squeue could not be asked: runs without a final exit status stay running.
        public var queueProblem: String?
    }

    private enum Outcome {
        case succeeded(RunMetrics)
        case failed(exitCode: Int32?, reason: String?)
        case interrupted(String)
        case skipped(because: RunID)
    }

    public func reconcile() async throws -> Report {
        var report = Report()
        let batch = try ledger.batchRuns()
        guard !batch.isEmpty else { return report }
        let arrayJobs = Set(batch.values.map { Self.arrayJob(of: $0) }).sorted()
        var states: [String: SlurmJobState] = [:]
        do {
            states = try await client.queue(jobs: arrayJobs)
        } catch {
            report.queueProblem = "\(error)"
        }

        var outcomes: [RunID: Outcome] = [:]
        var unknown: [RunID] = []
        for (id, job) in batch.sorted(by: { $0.key < $1.key }) {
            let state = SlurmClient.state(of: job, in: states)
            // A task that runs several runs is alive until its last one ends; those before are settled already.
            if !isFinal(id, job: job) && (state?.isActive == true || report.queueProblem != nil) {
                report.live[id] = (job, state)
                continue
            }
            if let outcome = decide(id, job: job, state: state) {
                outcomes[id] = outcome
            } else {
                unknown.append(id)
            }
        }
        if !unknown.isEmpty {
            // The controller forgot these jobs (MinJobAge): accounting may still know them.
            let accounted = await client.accounting(jobs: Set(unknown.compactMap { batch[$0] }.map(Self.arrayJob)).sorted()) ?? [:]
            for id in unknown {
                guard let job = batch[id] else { continue }
                let state = SlurmClient.state(of: job, in: accounted)
                if let state, state.isActive {
                    report.live[id] = (job, state)
                } else {
                    outcomes[id] = decide(id, job: job, state: state)
                        ?? .failed(exitCode: nil, reason: "array task \(job) wrote no \(ExitStatusFile.name), and Slurm no "
                                   + "longer knows the job (without accounting it forgets finished jobs after MinJobAge)")
                }
            }
        }
        try record(outcomes, into: &report)
        return report
    }

    /// The array job of a task id: "1234" of "1234_7".
    static func arrayJob(of task: String) -> String {
        String(task.split(separator: "_").first ?? Substring(task))
    }

    // MARK: deciding

    private func directory(_ id: RunID) -> URL { ledger.workspace.runDirectory(id) }

    /// The exit-status file this task wrote, if any (a file left by an older job does not count).
    private func exitStatus(_ id: RunID, job: String) -> ExitStatusFile? {
        guard let file = ExitStatusFile.read(in: directory(id)), file.job == nil || file.job == job else { return nil }
        return file
    }

    /// The task wrote an outcome that needs no word from Slurm.
    private func isFinal(_ id: RunID, job: String) -> Bool {
        guard let file = exitStatus(id, job: job) else { return false }
        return (!file.terminated && !file.notStarted) || file.skippedFor != nil
    }

    /// Nil when neither the run directory nor `state` tells how the task ended.
    private func decide(_ id: RunID, job: String, state: SlurmJobState?) -> Outcome? {
        let directory = directory(id)
        if let file = exitStatus(id, job: job) {
            if let dependency = file.skippedFor { return .skipped(because: dependency) }
            if file.notStarted {
                if case .interrupted(let why)? = state?.ending { return .interrupted(why + "; it had not started") }
                return .interrupted("its array task was stopped before this run's turn; it had not started")
            }
            let code = file.exitCode ?? -1
            if code == 0, case .success(let metrics) = SubprocessLauncher.readMetrics(in: directory) {
                return .succeeded(metrics)
            }
            if file.terminated {
                switch state?.ending {
                case .failed(let why)?: return .failed(exitCode: file.exitCode, reason: why)
                case .interrupted(let why)?: return .interrupted(why)
                case nil: return .interrupted("stopped by Slurm (SIGTERM); resumes from its checkpoint")
                }
            }
            if code == 0, case .failure(let problem) = SubprocessLauncher.readMetrics(in: directory) {
                return .failed(exitCode: 0, reason: problem.description)
            }
            // bash reports an engine killed by signal N as 128 + N.
            if code > 128 && code < 128 + 65 { return .failed(exitCode: nil, reason: "killed by \(signalName(code - 128))") }
            return .failed(exitCode: file.exitCode, reason: nil)
        }
        switch state?.ending {
        case .failed(let why)?: return .failed(exitCode: nil, reason: why)
        case .interrupted(let why)?: return .interrupted(why)
        case nil: return nil
        }
    }

    // MARK: recording

    private func record(_ outcomes: [RunID: Outcome], into report: inout Report) throws {
        var skips: [RunID: RunID] = [:]
        for (id, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
            // The task's end is when it wrote its exit status, not when this pass noticed it.
            let end = (try? FileManager.default.attributesOfItem(
                atPath: directory(id).appendingPathComponent(ExitStatusFile.name).path)[.modificationDate]) as? Date ?? Date()
            let tail = { RunLogs.tail(of: directory(id).appendingPathComponent(RunFiles.stderr), from: nil,
                                      lines: SubprocessLauncher.stderrTailLines) }
            switch outcome {
            case .succeeded(let metrics):
                try ledger.finish(id, status: .succeeded, exitCode: 0, stderrTail: nil, metrics: metrics, reason: nil, at: end)
                report.ended.append((id, .succeeded, nil))
            case .failed(let exitCode, let reason):
                try ledger.finish(id, status: .failed, exitCode: exitCode, stderrTail: tail(), metrics: nil, reason: reason, at: end)
                report.ended.append((id, .failed, reason ?? exitCode.map { "exit code \($0)" } ?? "failed"))
            case .interrupted(let reason):
                try ledger.finish(id, status: .interrupted, exitCode: nil, stderrTail: nil, metrics: nil, reason: reason, at: end)
                report.ended.append((id, .interrupted, reason))
            case .skipped(let dependency):
                skips[id] = dependency
            }
        }
        // A skip's reason says how its dependency ended, so dependencies are recorded first;
        // a chain of skips is recorded from its start.
        while !skips.isEmpty {
            let ready = skips.filter { skips[$0.value] == nil }.sorted { $0.key < $1.key }
            for (id, dependency) in ready.isEmpty ? skips.sorted(by: { $0.key < $1.key }) : ready {
                let dependent = try ledger.registration(id)?.run
                let reason = SkipReason.needs(dependent, on: dependency) + ", which " + (try endingText(dependency))
                try ledger.finish(id, status: .skipped, exitCode: nil, stderrTail: nil, metrics: nil, reason: reason)
                report.ended.append((id, .skipped, reason))
                skips[id] = nil
            }
        }
    }

    /// "failed: exit code 3", "was skipped", ... for a dependency's skip reason.
    private func endingText(_ id: RunID) throws -> String {
        guard let record = try ledger.record(id) else { return "is unknown to the ledger" }
        switch record.status {
        case .failed: return "failed: " + SkipReason.failure(record)
        case .skipped: return "was skipped"
        case .interrupted: return "was interrupted: " + (record.reason ?? "stopped")
        case .succeeded: return "had not succeeded when this run started"
        case .planned, .running: return "had not finished when this run started"
        }
    }
}
