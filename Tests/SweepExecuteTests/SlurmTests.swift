import Foundation
import RunContract
import SweepCore
import SweepLedger
import Testing
@testable import SweepExecute

/// The Slurm executor's parsing and its reading of outcomes, with stand-in squeue and sacct
/// scripts: the states a one-node test cluster cannot produce in seconds (TIMEOUT, PREEMPTED,
/// NODE_FAIL, OUT_OF_MEMORY, accounting) are checked here. EndToEndTests' SlurmEndToEnd runs
/// the executor against a real cluster.
@Suite struct SlurmParsingTests {
    @Test func arrayIndicesAreCompact() {
        #expect(ArrayIndices.compact([3, 7, 12]) == "3,7,12")
        #expect(ArrayIndices.compact([9, 0, 1, 2, 4, 5, 2]) == "0-2,4-5,9")
        #expect(ArrayIndices.compact([]) == "")
        #expect(ArrayIndices.expand("0-2,4-5,9%4") == [0, 1, 2, 4, 5, 9])
    }

    @Test func queueAndAccountingLines() {
        let squeue = "12_3|RUNNING\n12_[4-6%2]|PENDING\n13_0|COMPLETED\n"
        let states = SlurmClient.parseStates(squeue)
        #expect(states == ["12_3": SlurmJobState(rawValue: "RUNNING"), "12": SlurmJobState(rawValue: "PENDING"),
                           "13_0": SlurmJobState(rawValue: "COMPLETED")])
        // A task not split off its array yet takes the array's state.
        #expect(SlurmClient.state(of: "12_5", in: states)?.rawValue == "PENDING")
        #expect(SlurmClient.state(of: "12_3", in: states)?.rawValue == "RUNNING")
        let sacct = "20_1|CANCELLED by 1000\n20_1.batch|CANCELLED\n20_2|OUT_OF_MEMORY\n"
        #expect(SlurmClient.parseStates(sacct) == ["20_1": SlurmJobState(rawValue: "CANCELLED"),
                                                   "20_2": SlurmJobState(rawValue: "OUT_OF_MEMORY")])
    }

    @Test func everySlurmStateHasAMeaning() {
        for active in ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "SUSPENDED"] {
            #expect(SlurmJobState(rawValue: active).isActive && SlurmJobState(rawValue: active).ending == nil, "\(active)")
        }
        for resumable in ["PREEMPTED", "TIMEOUT", "NODE_FAIL", "CANCELLED"] {
            guard case .interrupted? = SlurmJobState(rawValue: resumable).ending else {
                Issue.record("\(resumable) should leave the run interrupted"); continue
            }
        }
        for failure in ["OUT_OF_MEMORY", "FAILED", "COMPLETED"] {
            guard case .failed? = SlurmJobState(rawValue: failure).ending else {
                Issue.record("\(failure) without an exit status should fail the run"); continue
            }
        }
    }

    @Test func exitStatusFiles() {
        #expect(ExitStatusFile(text: "exit_code=3\njob=12_4\n") == ExitStatusFile(exitCode: 3, job: "12_4"))
        #expect(ExitStatusFile(text: "exit_code=143\nterminated=1\njob=12_4\n")
                == ExitStatusFile(exitCode: 143, terminated: true, job: "12_4"))
        #expect(ExitStatusFile(text: "skipped=abc\njob=12_4\n")?.skippedFor == RunID(rawValue: "abc"))
        #expect(ExitStatusFile(text: "job=12_4\n") == nil)
    }

    @Test func dependenciesNameWholeArraysWhenTheyCan() {
        let level0 = BatchSubmission(job: "40", array: "0-1%2", runs: [], level: 0, dependency: nil)
        #expect(SlurmExecutor.dependencyList(["40_0", "40_1"], submissions: [level0]) == "40")
        #expect(SlurmExecutor.dependencyList(["40_1", "7_3"], submissions: [level0]) == "40_1:7_3")
        #expect(SlurmExecutor.minutes(.seconds(90)) == "2" && SlurmExecutor.minutes(.seconds(5)) == "1")
    }
}

@Suite struct SlurmReconcilerTests {
    /// A workspace whose runs were submitted as array job 50 (task i = run i), with stand-in
    /// squeue and sacct that print `queue` and `accounting` (nil: accounting is off).
    final class Cluster {
        let space: TemporaryWorkspace
        let tools: URL
        let runs: [PlannedRun]

        init(runs: [PlannedRun], queue: String, accounting: String?) throws {
            space = try TemporaryWorkspace()
            self.runs = runs
            tools = space.root.appendingPathComponent("bin")
            try FileManager.default.createDirectory(at: tools, withIntermediateDirectories: true)
            try tool("squeue", "printf '%s' '\(queue)'")
            try tool("sacct", accounting.map { "printf '%s' '\($0)'" } ?? "echo 'Slurm accounting storage is disabled' >&2; exit 1")
            try space.ledger.register(plan(runs))
            var jobs: [RunID: String] = [:]
            for (index, run) in runs.enumerated() {
                #expect(try space.ledger.claim(run.id, pid: 1, host: "submit-host", retries: 0, rerun: false))
                jobs[run.id] = "50_\(index)"
                try FileManager.default.createDirectory(at: directory(run), withIntermediateDirectories: true)
            }
            try space.ledger.recordBatchJobs(jobs)
        }

        private func tool(_ name: String, _ body: String) throws {
            let url = tools.appendingPathComponent(name)
            try "#!/bin/sh\n\(body)\n".write(to: url, atomically: true, encoding: .utf8)
            chmod(url.path, 0o755)
        }

        func directory(_ run: PlannedRun) -> URL { space.workspace.runDirectory(run.id) }

        func write(_ run: PlannedRun, _ file: String, _ text: String) throws {
            try text.write(to: directory(run).appendingPathComponent(file), atomically: true, encoding: .utf8)
        }

        func reconcile() async throws -> SlurmReconciler.Report {
            try await SlurmReconciler(ledger: space.ledger, client: SlurmClient(tools: tools)).reconcile()
        }

        func record(_ run: PlannedRun) throws -> RunRecord { try #require(try space.ledger.record(run.id)) }
    }

    static let metrics = #"{"engine_version":"t","tasks":{"semseg":{"name":"mIoU","value":40,"direction":"higher"}},"parameters":{"trainable":1,"total":2,"decoder":1,"backbone":1},"gmacs":1,"epoch_seconds":[1],"artifacts":{},"extra":{}}"#

    @Test func outcomesComeFromTheRunDirectoryAndSlurmSaysWhatIsAlive() async throws {
        let runs = ["ok", "crash", "queued", "oom", "timeout", "skip"].map { run($0) }
        let (ok, crash, queued, oom, timeout, skip) = (runs[0], runs[1], runs[2], runs[3], runs[4], runs[5])
        let cluster = try Cluster(runs: runs, queue: "50_0|COMPLETED\n50_1|FAILED\n50_2|PENDING\n50_3|OUT_OF_MEMORY\n50_4|TIMEOUT\n",
                                  accounting: nil)
        try cluster.write(ok, RunFiles.metrics, Self.metrics)
        try cluster.write(ok, "exit-status", "exit_code=0\njob=50_0\n")
        try cluster.write(crash, RunFiles.stderr, "==== sweep header\nloading\nerror: bad shape\n")
        try cluster.write(crash, "exit-status", "exit_code=3\njob=50_1\n")
        try cluster.write(timeout, "exit-status", "exit_code=143\nterminated=1\njob=50_4\n")
        try cluster.write(skip, "exit-status", "skipped=\(crash.id)\njob=50_5\n")

        let report = try await cluster.reconcile()
        #expect(try cluster.record(ok).status == .succeeded && cluster.record(ok).metrics?.tasks["semseg"]?.value == 40)
        let failed = try cluster.record(crash)
        #expect(failed.status == .failed && failed.exitCode == 3 && failed.stderrTail == "loading\nerror: bad shape")
        #expect(try cluster.record(queued).status == .running)
        #expect(report.live[queued.id]?.state?.rawValue == "PENDING")
        #expect(try cluster.record(oom).status == .failed && cluster.record(oom).reason?.contains("OUT_OF_MEMORY") == true)
        let timedOut = try cluster.record(timeout)
        #expect(timedOut.status == .interrupted && timedOut.reason?.contains("TIMEOUT") == true)
        // Slurm forgot task 50_5, but its exit status says all: skipped, with the dependency's failure.
        let skipped = try cluster.record(skip)
        #expect(skipped.status == .skipped)
        #expect(skipped.reason == "needs `a dependency` (run \(crash.id)), which failed: exit code 3")
        #expect(try cluster.space.ledger.batchRuns().keys.sorted() == [queued.id])
    }

    @Test func accountingSettlesJobsTheControllerForgot() async throws {
        let runs = ["preempted", "nodefail", "gone"].map { run($0) }
        let cluster = try Cluster(runs: Array(runs.prefix(2)), queue: "", accounting: "50|PREEMPTED\n50_1|NODE_FAIL\n50_1.batch|CANCELLED\n")
        _ = try await cluster.reconcile()
        #expect(try cluster.record(runs[0]).reason?.contains("PREEMPTED") == true)
        #expect(try cluster.record(runs[1]).status == .interrupted && cluster.record(runs[1]).reason?.contains("NODE_FAIL") == true)

        // Without accounting, a task that wrote nothing and that the controller forgot has failed.
        let blind = try Cluster(runs: [runs[2]], queue: "", accounting: nil)
        _ = try await blind.reconcile()
        let gone = try blind.record(runs[2])
        #expect(gone.status == .failed && gone.reason?.contains("Slurm no longer knows the job") == true)
    }

    @Test func withoutSqueueOnlyFinalExitStatusesCount() async throws {
        let runs = [run("done"), run("unknown")]
        let cluster = try Cluster(runs: runs, queue: "", accounting: nil)
        try FileManager.default.removeItem(at: cluster.tools.appendingPathComponent("squeue"))
        try cluster.write(runs[0], "exit-status", "exit_code=7\njob=50_0\n")
        let report = try await cluster.reconcile()
        #expect(report.queueProblem != nil)
        #expect(try cluster.record(runs[0]).status == .failed)
        #expect(try cluster.record(runs[1]).status == .running)
    }
}
