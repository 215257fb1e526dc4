import Foundation
import Testing

/// `sweep run --executor slurm` against a real one-node Slurm cluster on this machine, started
/// by `.ci/slurm-up` (CI starts it before the tests; otherwise the first test here does). Without
/// Slurm the tests are skipped and say why, except in CI (`CI` set), where they fail.
@Suite(.serialized) struct SlurmEndToEnd {
    @Test func aGridWithDependenciesRunsToTheSameTableAsTheLocalExecutor() async throws {
        let cluster = try await TestCluster.require()
        let local = try Scratch()
        _ = try local.write("grid.yaml", Manifests.grid(rows: 2, seeds: 2, epochs: 2, epochSeconds: 0.05))
        let localRun = try await local.sweep(["run", "grid.yaml"])
        #expect(localRun.status == 0, "\(localRun.output)")

        let slurm = try cluster.scratch()
        _ = try slurm.write("grid.yaml", Manifests.grid(rows: 2, seeds: 2, epochs: 2, epochSeconds: 0.05))
        let submitted = try await slurm.sweep(["run", "grid.yaml", "--executor", "slurm"])
        #expect(submitted.status == 0, "\(submitted.output)")
        // The pretraining run is level 0; the grid that needs it waits for that array task.
        let jobs = try #require(submitted.stdout.firstMatch(of: /submitted Slurm job (\d+): 1 run, --array=0%2 \(level 0\)\nsubmitted Slurm job \d+: 4 runs, --array=0-3%2 \(level 1, after afterany:(\d+)\)/),
                                "\(submitted.output)")
        #expect(jobs.output.1 == jobs.output.2)
        // `sweep run` returned at once: the runs are in Slurm's hands, and `sweep status` says so.
        let queued = try await slurm.status()
        #expect(queued.values.allSatisfy { $0.state == "running" || $0.state == "succeeded" })
        #expect(queued.values.contains { $0.slurm_job != nil })

        let waited = try await slurm.sweep(["run", "grid.yaml", "--executor", "slurm", "--wait", "--poll", "0.3"],
                                           limit: .seconds(60))
        #expect(waited.status == 0, "\(waited.output)")
        let runs = try await slurm.status()
        #expect(runs.count == 5 && runs.values.allSatisfy { $0.state == "succeeded" && $0.attempts == 1 })
        #expect(slurm.count("start").values.allSatisfy { $0 == 1 } && slurm.count("start").count == 5)
        let table = { (scratch: Scratch) in
            try String(contentsOf: scratch.root.appendingPathComponent("results/e2e/main.md"), encoding: .utf8)
        }
        #expect(try table(slurm) == table(local))
        // Threads follow --cpus-per-task, as the run contract asks.
        let anyRun = try #require(runs.keys.first)
        let log = try String(contentsOf: slurm.workspace.appendingPathComponent("runs/\(anyRun)/stdout.log"), encoding: .utf8)
        #expect(log.contains("1 thread(s)"))
    }

    @Test func aFailingArrayTaskIsRecordedWithItsStderrAndItsDependentsAreSkipped() async throws {
        let cluster = try await TestCluster.require()
        let scratch = try cluster.scratch()
        _ = try scratch.write("failure.yaml", Manifests.failingDependency(retries: 0))
        let result = try await scratch.sweep(["run", "failure.yaml", "--executor", "slurm", "--wait", "--poll", "0.3"],
                                             limit: .seconds(60))
        #expect(result.status == 1, "\(result.output)")
        let runs = try await scratch.status()
        let failed = try #require(runs.values.first { $0.state == "failed" }, "\(runs)")
        #expect(failed.label == "B" && failed.exit_code == 3)
        let skipped = runs.values.filter { $0.state == "skipped" }
        #expect(skipped.count == 2)
        #expect(skipped.allSatisfy { $0.reason == "needs `pretrain` (run \(failed.id)), which failed: exit code 3" })
        #expect(runs.values.filter { $0.state == "succeeded" }.count == 3)
        // The skipped runs' engines never started; the failure's stderr is in the ledger.
        #expect(skipped.allSatisfy { scratch.count("start")[$0.id] == nil })
        let show = try await scratch.sweep(["show", failed.id])
        #expect(show.stdout.contains("stderr (as recorded in the ledger):\n  engine.sh: loading data\n  engine.sh: error: CUDA out of memory"),
                "\(show.output)")
    }

    @Test func cancelThenResumeSubmitsOnlyTheRemainder() async throws {
        let cluster = try await TestCluster.require()
        let scratch = try cluster.scratch()
        _ = try scratch.write("grid.yaml", Manifests.grid(rows: 3, seeds: 1, epochs: 10, epochSeconds: 0.4))
        let submitted = try await scratch.sweep(["run", "grid.yaml", "--executor", "slurm", "--slots", "1"])
        #expect(submitted.status == 0, "\(submitted.output)")
        #expect(submitted.stdout.contains("--array=0-2%1 (level 1"), "\(submitted.output)")
        // Cancel once the pretraining has finished and the first grid run is part-way (it has
        // 3 s to go then; the grid runs one at a time).
        try await scratch.waitFor(limit: .seconds(60)) { scratch.count("done").count == 1 && scratch.count("epoch-2").count == 2 }
        let cancel = try await scratch.sweep(["cancel", "grid.yaml"])
        let stopped = try await scratch.status()
        let interrupted = stopped.values.filter { $0.state == "interrupted" }
        #expect(cancel.status == 0 && cancel.stdout.contains("cancelled \(interrupted.count) runs in Slurm"), "\(cancel.output)")
        #expect(interrupted.count >= 2 && stopped.values.filter { $0.state == "succeeded" }.count == 4 - interrupted.count,
                "\(stopped)")
        #expect(stopped.values.allSatisfy { $0.slurm_state == nil })
        let partWay = interrupted.first { $0.label == "R0" }
        if partWay != nil { #expect(scratch.count("terminated")[partWay?.id ?? ""] == 1) }

        let resumed = try await scratch.sweep(["run", "grid.yaml", "--executor", "slurm", "--wait", "--poll", "0.3"],
                                              limit: .seconds(90))
        #expect(resumed.status == 0, "\(resumed.output)")
        // Only the interrupted grid runs go out again, as one array from index 0: the
        // pretraining run is done, so they need nothing still to run.
        #expect(resumed.stdout.contains(": \(interrupted.count) runs, --array=0-\(interrupted.count - 1)%2 (level 0)"),
                "\(resumed.output)")
        #expect(!resumed.stdout.contains("level 1"))
        let runs = try await scratch.status()
        #expect(runs.values.allSatisfy { $0.state == "succeeded" })
        #expect(scratch.count("done").values.allSatisfy { $0 == 1 } && scratch.count("done").count == 4)
        // The engine stopped part-way continued from its checkpoint.
        if let partWay {
            let log = try String(contentsOf: scratch.workspace.appendingPathComponent("runs/\(partWay.id)/stdout.log"), encoding: .utf8)
            #expect(log.contains(/attempt 2 from epoch [1-9] of 10/), "\(log)")
        }
    }

    @Test func aRequeuedTaskResumesFromItsCheckpoint() async throws {
        let cluster = try await TestCluster.require()
        let scratch = try cluster.scratch()
        _ = try scratch.write("grid.yaml", Manifests.grid(rows: 1, seeds: 1, epochs: 10, epochSeconds: 0.4))
        #expect(try await scratch.sweep(["run", "grid.yaml", "--executor", "slurm"]).status == 0)
        let pretrain = try #require(try await scratch.status().values.first { $0.group == "pretrain" })
        let task = try #require(pretrain.slurm_job)
        try await scratch.waitFor(limit: .seconds(60)) { scratch.count("epoch-2")[pretrain.id] != nil }
        // What a preemption with requeue does: the task is stopped and queued again. Slurm
        // holds a requeued task back for a while; the test lets it start at once.
        try await cluster.scontrol(["requeue", task])
        // slurmd refuses a job whose credential is as old as the second its last run's was revoked
        // in ("Job credential revoked"), and the task then fails for good: let a second pass.
        try await Task.sleep(for: .milliseconds(1100))
        let clock = ContinuousClock()
        // Generous: on a loaded machine slurmctld's scheduling passes come late (30 s was missed by 0.2 s).
        let deadline = clock.now.advanced(by: .seconds(90))
        while scratch.count("start")[pretrain.id] != 2 {
            try #require(clock.now < deadline, "the requeued task did not start again: \(scratch.executions())")
            try? await cluster.scontrol(["update", "jobid=\(task)", "StartTime=now"])
            try? await cluster.scontrol(["release", task])
            try await Task.sleep(for: .milliseconds(200))
        }
        let waited = try await scratch.sweep(["run", "grid.yaml", "--executor", "slurm", "--wait", "--poll", "0.3"],
                                             limit: .seconds(60))
        #expect(waited.status == 0, "\(waited.output)")
        #expect(!waited.stdout.contains("submitted Slurm job"), "nothing is submitted twice: \(waited.output)")
        let runs = try await scratch.status()
        #expect(runs.values.allSatisfy { $0.state == "succeeded" && $0.attempts == 1 })
        #expect(scratch.count("terminated")[pretrain.id] == 1)
        let log = try String(contentsOf: scratch.workspace.appendingPathComponent("runs/\(pretrain.id)/stdout.log"), encoding: .utf8)
        #expect(log.contains(/attempt 2 from epoch [2-9] of 10/), "\(log)")
    }

    @Test func retriedRunsArePackedByTheirHistory() async throws {
        let cluster = try await TestCluster.require()
        let scratch = try cluster.scratch()
        // Rows 1, 2 and 4 fail on their first attempt; with no retries they stay failed.
        let rows = (0 ..< 6).map { "      - {label: \"R\($0)\", score: \($0)\([1, 2, 4].contains($0) ? ", fail_attempts: 1" : "")}" }
        _ = try scratch.write("rows.yaml", """
            name: compact
            engine:
              command: [./engine.sh, --config, "{config}", --out, "{out}"]
            executor: {kind: slurm, retries: 0, max_concurrent: 2, cpus_per_task: 1, time: "5", mem: 50M}
            defaults: {epochs: 1, epoch_seconds: 0.05}
            seeds: [0]
            groups:
              g:
                rows:
            \(rows.joined(separator: "\n"))

            """)
        let first = try await scratch.sweep(["run", "rows.yaml", "--wait", "--poll", "0.3"], limit: .seconds(60))
        #expect(first.status == 1, "\(first.output)")
        #expect(first.stdout.contains("--array=0-5%2 (level 0)"), "\(first.output)")
        #expect(try await scratch.status().values.filter { $0.state == "failed" }.count == 3)
        let again = try await scratch.sweep(["run", "rows.yaml", "--retry-failed", "--wait", "--poll", "0.3"],
                                            limit: .seconds(60))
        #expect(again.status == 0, "\(again.output)")
        // Now the group has a history: its runs take a fraction of a second, so they are packed,
        // yet into no fewer tasks than max_concurrent.
        #expect(again.stdout.contains(": 3 runs, 2 per task (runs take "), "\(again.output)")
        #expect(again.stdout.contains("--array=0-1%2 (level 0)"), "\(again.output)")
        #expect(try await scratch.status().values.allSatisfy { $0.state == "succeeded" })
    }
    @Test func packedRunsReachTheSameLedgerAndTableAsTheLocalExecutor() async throws {
        let cluster = try await TestCluster.require()
        let manifest = Manifests.grid(rows: 3, seeds: 2, epochs: 2, epochSeconds: 0.05)
            .replacingOccurrences(of: "  retries: 1\n", with: "  retries: 1\n  runs_per_task: 3\n")
        let local = try Scratch()
        _ = try local.write("grid.yaml", manifest)
        #expect(try await local.sweep(["run", "grid.yaml"]).status == 0)

        let slurm = try cluster.scratch()
        _ = try slurm.write("grid.yaml", manifest)
        let waited = try await slurm.sweep(["run", "grid.yaml", "--executor", "slurm", "--wait", "--poll", "0.3"],
                                           limit: .seconds(60))
        #expect(waited.status == 0, "\(waited.output)")
        #expect(waited.stdout.contains(": 6 runs, 3 per task (executor.runs_per_task), --array=0-1%2 (level 1, after afterany:"),
                "\(waited.output)")
        let runs = try await slurm.status(), localRuns = try await local.status()
        #expect(runs.count == 7 && runs.values.allSatisfy { $0.state == "succeeded" && $0.attempts == 1 })
        #expect(Set(runs.keys) == Set(localRuns.keys))
        #expect(slurm.count("start").count == 7 && slurm.count("start").values.allSatisfy { $0 == 1 })
        let table = { (scratch: Scratch) in
            try String(contentsOf: scratch.root.appendingPathComponent("results/e2e/main.md"), encoding: .utf8)
        }
        #expect(try table(slurm) == table(local))
        // Each packed run has its own logs and exit status, naming the task that ran it.
        let tasks = try runs.keys.map { id in
            let status = try String(contentsOf: slurm.workspace.appendingPathComponent("runs/\(id)/exit-status"), encoding: .utf8)
            let log = try String(contentsOf: slurm.workspace.appendingPathComponent("runs/\(id)/stdout.log"), encoding: .utf8)
            #expect(status.contains("exit_code=0\n") && log.contains("engine.sh: run \(id) attempt 1"), "\(status)\(log)")
            return try #require(status.firstMatch(of: /job=(\d+_\d+)/)).output.1
        }
        #expect(Dictionary(grouping: tasks, by: { $0 }).values.map(\.count).sorted() == [1, 3, 3])
    }

    @Test func cancellingAPackedTaskLeavesItsUnfinishedRunsResumable() async throws {
        let cluster = try await TestCluster.require()
        let scratch = try cluster.scratch()
        _ = try scratch.write("grid.yaml", Manifests.grid(rows: 3, seeds: 1, epochs: 6, epochSeconds: 0.3)
            .replacingOccurrences(of: "  retries: 1\n", with: "  retries: 1\n  runs_per_task: 3\n"))
        let submitted = try await scratch.sweep(["run", "grid.yaml", "--executor", "slurm"])
        #expect(submitted.stdout.contains(": 3 runs, 3 per task (executor.runs_per_task), --array=0%2 (level 1"),
                "\(submitted.output)")
        // The task runs R0, R1, R2 in turn: cancel it while R1 is part-way.
        let runs = try await scratch.status()
        let byLabel = Dictionary(uniqueKeysWithValues: runs.values.compactMap { run in run.label.map { ($0, run.id) } })
        let (r0, r1, r2) = try (#require(byLabel["R0"]), #require(byLabel["R1"]), #require(byLabel["R2"]))
        try await scratch.waitFor(limit: .seconds(60)) { scratch.count("epoch-2")[r1] != nil }
        let cancel = try await scratch.sweep(["cancel", "grid.yaml"])
        #expect(cancel.status == 0, "\(cancel.output)")
        let stopped = try await scratch.status()
        #expect(stopped[r0]?.state == "succeeded" && stopped[r1]?.state == "interrupted", "\(stopped)")
        #expect(stopped[r2]?.state == "interrupted" && stopped[r2]?.reason?.hasSuffix("it had not started") == true, "\(stopped)")
        #expect(scratch.count("start")[r2] == nil)

        let resumed = try await scratch.sweep(["run", "grid.yaml", "--executor", "slurm", "--wait", "--poll", "0.3"],
                                              limit: .seconds(60))
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.stdout.contains(": 2 runs, 2 per task (executor.runs_per_task), --array=0%2 (level 0)"), "\(resumed.output)")
        #expect(try await scratch.status().values.allSatisfy { $0.state == "succeeded" })
        #expect(scratch.count("done").values.allSatisfy { $0 == 1 } && scratch.count("done").count == 4)
        let log = try String(contentsOf: scratch.workspace.appendingPathComponent("runs/\(r1)/stdout.log"), encoding: .utf8)
        #expect(log.contains(/attempt 2 from epoch [1-9] of 6/), "\(log)")
    }

    @Test func anSbatchErrorIsOneLineWithoutUsageText() async throws {
        let cluster = try await TestCluster.require()
        let scratch = try cluster.scratch()
        _ = try scratch.write("grid.yaml", Manifests.grid(rows: 1, seeds: 1)
            .replacingOccurrences(of: "  retries: 1\n", with: "  retries: 1\n  partition: no-such-partition\n"))
        let result = try await scratch.sweep(["run", "grid.yaml", "--executor", "slurm"])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.stderr.contains("error: sbatch ") && result.stderr.contains("invalid partition"), "\(result.output)")
        #expect(!result.output.contains("Usage:"), "\(result.output)")
        #expect(try await scratch.status().values.allSatisfy { $0.state == "interrupted" })
    }
}

/// The one-node cluster of `.ci/slurm-up`, brought up once per test process.
struct TestCluster {
    let conf: String

    /// A scratch folder whose `sweep` processes talk to this cluster.
    func scratch() throws -> Scratch {
        let scratch = try Scratch()
        scratch.extraEnvironment["SLURM_CONF"] = conf
        return scratch
    }

    /// Runs `scontrol arguments...` against this cluster; throws when it fails.
    func scontrol(_ arguments: [String]) async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("scontrol-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let child = try ChildProcess("/usr/bin/env", ["scontrol"] + arguments, in: nil,
                                     environment: ProcessInfo.processInfo.environment.merging(["SLURM_CONF": conf]) { $1 },
                                     stdout: log, stderr: log)
        let status = await child.wait()
        guard status == 0 else {
            throw Unreachable(why: "scontrol \(arguments) exited \(status): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
    }

    /// The cluster, or the test is skipped (failed when `CI` is set) with the reason.
    static func require() async throws -> TestCluster {
        switch await started.value {
        case .success(let cluster): return cluster
        case .failure(let problem):
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("CI must run the Slurm tests, but Slurm is not reachable: \(problem.why)")
                throw problem
            }
            try Test.cancel("Slurm is not reachable, so the Slurm tests are skipped: \(problem.why)")
        }
    }

    struct Unreachable: Error { let why: String }

    private static let started = Task<Result<TestCluster, Unreachable>, Never> { await start() }

    /// Runs `.ci/slurm-up` (idempotent: quick when the cluster is up) and checks its answer.
    private static func start() async -> Result<TestCluster, Unreachable> {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".ci/slurm-up")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-up-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        let status: Int32
        do {
            let child = try ChildProcess("/bin/bash", [script.path], in: nil, environment: ProcessInfo.processInfo.environment,
                                         stdout: output, stderr: output)
            status = await child.wait()
        } catch {
            return .failure(Unreachable(why: "could not run \(script.path): \(error)"))
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard status == 0,
              let line = text.split(separator: "\n").last(where: { $0.hasPrefix("SLURM_CONF=") })
        else {
            return .failure(Unreachable(why: ".ci/slurm-up exited \(status):\n\(text)"))
        }
        return .success(TestCluster(conf: String(line.dropFirst("SLURM_CONF=".count))))
    }
}

extension Scratch {
    /// Polls `condition` every 0.2 s until it holds; fails the test after `limit`.
    func waitFor(limit: Duration, _ condition: () throws -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while try !condition() {
            try #require(clock.now < deadline, "condition not met within \(limit); engine log: \(executions())")
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
