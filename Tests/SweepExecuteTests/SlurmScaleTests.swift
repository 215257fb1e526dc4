import Foundation
import RunContract
import SweepCore
import SweepLedger
import Testing
@testable import SweepExecute

/// The Slurm executor at cluster scale, against stand-in Slurm tools (a fake `scontrol` with a
/// small MaxArraySize, an `sbatch` that only records): grids split into arrays that fit, resumes
/// that submit only what is left, limits from scontrol and sacctmgr, packing, and the packed
/// array task script itself run by bash the way Slurm would run it.
@Suite struct SlurmScaleTests {
    /// A workspace and a folder of stand-in Slurm tools. `config` is what `scontrol show config`
    /// prints; squeue prints `queue` for --jobs, and `jobs` lines for the job counts.
    final class FakeCluster {
        let space: TemporaryWorkspace
        let tools: URL

        init(config: String, jobs: Int = 0, userJobs: Int = 0, sacctmgr: String? = nil) throws {
            space = try TemporaryWorkspace()
            tools = space.root.appendingPathComponent("bin")
            try FileManager.default.createDirectory(at: tools, withIntermediateDirectories: true)
            try tool("scontrol", "cat <<'EOF'\n\(config)\nEOF")
            try tool("sbatch", """
                n=$(cat "$0.next" 2>/dev/null || echo 100); echo $((n + 1)) > "$0.next"
                printf '%s\\n' "$*" >> "$0.log"; echo "$n"
                """)
            try tool("squeue", """
                case "$*" in
                  *--jobs=*) cat "$(dirname "$0")/queue" 2>/dev/null ;;
                  *--user=*) seq 1 \(userJobs) ;;
                  *) seq 1 \(jobs) ;;
                esac
                """)
            try tool("sinfo", "echo 0/2/0/2")
            try tool("sacct", "exit 1")
            try tool("sacctmgr", sacctmgr ?? "echo 'accounting is off' >&2; exit 1")
            try tool("engine", """
                # --config FILE --out DIR
                echo "$(basename "$4")" >> "$(dirname "$0")/engine.log"
                if grep -q '"fail":true' "$2"; then echo "engine: bad shape" >&2; exit 3; fi
                if grep -q '"sleep":true' "$2"; then
                    sleep 30 & trap 'kill $!; exit 143' TERM; touch "$4/sleeping"; wait $!
                fi
                printf '%s' '\(SlurmReconcilerTests.metrics)' > "$4/metrics.json"
                """)
        }

        private func tool(_ name: String, _ body: String) throws {
            let url = tools.appendingPathComponent(name)
            try "#!/bin/bash\n\(body)\n".write(to: url, atomically: true, encoding: .utf8)
            chmod(url.path, 0o755)
        }

        func plan(_ runs: [PlannedRun]) -> Plan {
            Plan(name: "scale", runs: runs, engine: EngineSpec(command: [tools.appendingPathComponent("engine").path, "--config",
                                                                         "{config}", "--out", "{out}"], identity: "test"))
        }

        func executor(_ settings: SlurmSettings = SlurmSettings()) -> SlurmExecutor {
            SlurmExecutor(workspace: space.workspace, ledger: space.ledger, options: options(), settings: settings,
                          client: SlurmClient(tools: tools))
        }

        /// sbatch's argument lines so far.
        var submissions: [String] {
            ((try? String(contentsOf: tools.appendingPathComponent("sbatch.log"), encoding: .utf8)) ?? "")
                .split(separator: "\n").map(String.init)
        }

        /// The task list of a submission (its last argument): index -> run names.
        func tasks(_ submission: String) throws -> [[String]] {
            let list = try String(contentsOfFile: String(submission.split(separator: " ").last ?? ""), encoding: .utf8)
            return list.split(separator: "\n").enumerated().map { index, line in
                let fields = line.split(separator: " ").map(String.init)
                #expect(fields.first == String(index))
                return fields.dropFirst().map { $0.replacingOccurrences(of: "run-", with: "") }
            }
        }

        func setQueue(_ text: String) throws {
            try text.write(to: tools.appendingPathComponent("queue"), atomically: true, encoding: .utf8)
        }

        /// Runs array task `task` of job `job` (whose task list is `submission`'s) as Slurm would.
        func runTask(_ submission: String, job: String, task: Int) throws -> Process {
            let arguments = submission.split(separator: " ").suffix(3).map(String.init)
            let process = Process()
            // With the signal handling slurmstepd gives a task: this test process may block or
            // ignore SIGTERM, and a shell cannot trap a signal ignored when it started.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["--default-signal", "/bin/bash"] + arguments
            process.environment = ["PATH": "/usr/bin:/bin", "SLURM_ARRAY_TASK_ID": String(task), "SLURM_ARRAY_JOB_ID": job,
                                   "SLURM_CPUS_PER_TASK": "1"]
            try process.run()
            return process
        }

        func record(_ name: String) throws -> RunRecord { try #require(try space.ledger.record(id(name))) }

        func reconcile() async throws {
            _ = try await SlurmReconciler(ledger: space.ledger, client: SlurmClient(tools: tools)).reconcile()
        }
    }

    static func runs(_ count: Int, from first: Int = 0) -> [PlannedRun] {
        (first ..< first + count).map { run("r\($0)") }
    }

    @Test func aGridLargerThanMaxArraySizeGoesOutAsSeveralArraysAndResumeSubmitsOnlyTheRest() async throws {
        let cluster = try FakeCluster(config: "MaxArraySize            = 3\nAccountingStorageType   = accounting_storage/none")
        let plan = cluster.plan(Self.runs(8))
        let summary = try await cluster.executor(SlurmSettings(runsPerTask: 1)).execute(plan)
        #expect(summary.submissions.map(\.array) == ["0-2%2", "0-2%2", "0-1%2"])
        #expect(summary.submissions.map(\.job) == ["100", "101", "102"])
        let lines = cluster.submissions
        #expect(try lines.map(cluster.tasks) == [[["r0"], ["r1"], ["r2"]], [["r3"], ["r4"], ["r5"]], [["r6"], ["r7"]]])
        let held = try cluster.space.ledger.batchRuns()
        #expect(held[id("r0")] == "100_0" && held[id("r4")] == "101_1" && held[id("r7")] == "102_1")

        // Runs 0-4 end; the tasks of 5-7 are cancelled before they start. The resume submits
        // those three only, as one array from index 0.
        for (index, name) in ["r0", "r1", "r2", "r3", "r4"].enumerated() {
            let directory = cluster.space.workspace.runDirectory(id(name))
            try SlurmReconcilerTests.metrics.write(to: directory.appendingPathComponent(RunFiles.metrics), atomically: true, encoding: .utf8)
            try "exit_code=0\njob=\(index < 3 ? "100_\(index)" : "101_\(index - 3)")\n"
                .write(to: directory.appendingPathComponent("exit-status"), atomically: true, encoding: .utf8)
        }
        try cluster.setQueue("101_2|CANCELLED\n102|CANCELLED\n")
        let resumed = try await cluster.executor(SlurmSettings(runsPerTask: 1)).execute(plan)
        #expect(resumed.submissions.map(\.array) == ["0-2%2"])
        #expect(try cluster.tasks(try #require(cluster.submissions.last)) == [["r5"], ["r6"], ["r7"]])
        #expect(try ["r0", "r4"].allSatisfy { try cluster.record($0).status == .succeeded })
        #expect(try cluster.space.ledger.batchRuns()[id("r6")] == "103_1")
    }

    @Test func packedTasksRunEachRunInItsOwnDirectoryWithItsOwnOutcome() async throws {
        let cluster = try FakeCluster(config: "MaxArraySize = 2")
        let failing = run("bad", config: ["fail": .bool(true)])
        let dependent = run("after", needs: ["x": "bad"])
        let plan = cluster.plan([run("a"), failing, run("c"), run("d"), run("e"), dependent])
        let summary = try await cluster.executor(SlurmSettings(maxConcurrent: 4, runsPerTask: 2)).execute(plan)
        // Five runs of level 0 in three tasks of two, at most two tasks an array; the dependent is level 1.
        #expect(summary.submissions.map(\.array) == ["0-1%4", "0%4", "0%4"])
        #expect(summary.submissions.map(\.runsPerTask) == [2, 1, 1])
        #expect(summary.submissions[0].packing == "executor.runs_per_task")
        let lines = cluster.submissions
        #expect(try cluster.tasks(lines[0]) == [["a", "bad"], ["c", "d"]])
        #expect(lines[2].contains("--dependency=afterany:100_0 "), "\(lines[2])")

        for (line, job, task) in [(lines[0], "100", 0), (lines[0], "100", 1), (lines[1], "101", 0), (lines[2], "102", 0)] {
            let process = try cluster.runTask(line, job: job, task: task)
            process.waitUntilExit()
        }
        try await cluster.reconcile()
        // The failure in the middle of task 100_0 fails that run only.
        #expect(try cluster.record("a").status == .succeeded && cluster.record("c").status == .succeeded)
        let bad = try cluster.record("bad")
        #expect(bad.status == .failed && bad.exitCode == 3 && bad.stderrTail == "engine: bad shape")
        #expect(try cluster.record("after").status == .skipped)
        #expect(try cluster.record("after").reason == "needs `x` (run \(id("bad"))), which failed: exit code 3")
        let log = try String(contentsOf: cluster.space.workspace.runDirectory(id("c")).appendingPathComponent(RunFiles.stdout),
                             encoding: .utf8)
        #expect(log.hasPrefix("==== sweep ") && log.contains("slurm job 100_1 on "), "\(log)")
        #expect(try String(contentsOf: cluster.tools.appendingPathComponent("engine.log"), encoding: .utf8)
                    .split(separator: "\n").sorted() == ["run-a", "run-bad", "run-c", "run-d", "run-e"])
    }

    @Test func aStoppedPackedTaskLeavesItsUnfinishedRunsResumable() async throws {
        let cluster = try FakeCluster(config: "MaxArraySize = 1001")
        let sleeper = run("slow", config: ["sleep": .bool(true)])
        let plan = cluster.plan([run("first"), sleeper, run("last")])
        _ = try await cluster.executor(SlurmSettings(runsPerTask: 3)).execute(plan)
        let line = try #require(cluster.submissions.first)
        let task = try cluster.runTask(line, job: "100", task: 0)
        let marker = cluster.space.workspace.runDirectory(sleeper.id).appendingPathComponent("sleeping")
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(10))
        while !FileManager.default.fileExists(atPath: marker.path) {
            try #require(clock.now < deadline, "the packed task did not reach its second run")
            try await Task.sleep(for: .milliseconds(20))
        }
        task.terminate()  // SIGTERM, as Slurm sends on scancel, a time limit or a preemption
        task.waitUntilExit()
        #expect(task.terminationStatus == 143)
        try cluster.setQueue("100_0|CANCELLED\n")
        try await cluster.reconcile()
        #expect(try cluster.record("first").status == .succeeded)
        let slow = try cluster.record("slow"), last = try cluster.record("last")
        #expect(slow.status == .interrupted && slow.reason?.contains("CANCELLED") == true)
        #expect(last.status == .interrupted && last.reason == "cancelled in Slurm (CANCELLED); it had not started")

        let resumed = try await cluster.executor(SlurmSettings(runsPerTask: 3)).execute(plan)
        #expect(resumed.submissions.map(\.runs) == [[sleeper.id, id("last")]])
        #expect(try cluster.tasks(try #require(cluster.submissions.last)) == [["slow", "last"]])
    }

    @Test func limitsFromScontrolAndSacctmgrDecideWhatFits() async throws {
        // MaxJobCount 10 with 7 jobs in the controller: 3 more tasks.
        let full = try FakeCluster(config: "MaxArraySize = 1001\nMaxJobCount = 10", jobs: 7)
        await #expect(throws: SlurmError.doesNotFit(
            "8 runs need 8 array tasks at 1 run(s) per task, but Slurm accepts 3 more: the cluster's MaxJobCount is 10 "
                + "and the controller holds 7 jobs; set executor.runs_per_task to 3 or more (or remove it to let sweep pack), "
                + "or wait for jobs to leave the queue")) {
            try await full.executor(SlurmSettings(runsPerTask: 1)).execute(full.plan(Self.runs(8)))
        }
        #expect(full.submissions.isEmpty)
        #expect(try full.record("r0").status == .interrupted && full.record("r0").reason?.hasPrefix("not submitted: ") == true)
        // Without runs_per_task the runs are packed to fit.
        let packed = try await full.executor().execute(full.plan(Self.runs(8)))
        #expect(packed.submissions.map(\.array) == ["0-2%2"] && packed.submissions.map(\.runsPerTask) == [3])
        #expect(packed.submissions[0].packing?.contains("MaxJobCount is 10") == true)

        // Accounting on: the association allows 6 submitted jobs, its default QOS 4 per user; 2 are queued.
        let accounted = try FakeCluster(config: "MaxArraySize = 1001\nAccountingStorageType = accounting_storage/slurmdbd",
                                        userJobs: 2, sacctmgr: """
            case "$*" in
              *association*) echo "sweeptest|lab|6|normal,long|normal" ;;
              *qos*) printf 'normal|4\\nlong|\\n' ;;
            esac
            """)
        await #expect(throws: SlurmError.self) {
            try await accounted.executor(SlurmSettings(runsPerTask: 1)).execute(accounted.plan(Self.runs(3)))
        }
        let limits = try await SlurmClient(tools: accounted.tools).limits(partition: nil, qos: nil)
        #expect(limits.capacity?.tasks == 2)
        #expect(limits.capacity?.why == "MaxSubmitJobs of QOS normal is 4 and you have 2 jobs queued or running")
        // Asking for the QOS without a per-user limit leaves the association's.
        #expect(try await SlurmClient(tools: accounted.tools).limits(partition: nil, qos: "long").capacity?.tasks == 4)
    }

    @Test func derivedPackingFollowsExpectedTimesTimeLimitsAndWidth() throws {
        let runs = Self.runs(1000)
        func choose(_ seconds: Double?, time: Double? = nil, width: Int? = nil) throws -> Int {
            try TaskPacking.choose(levels: [runs], explicit: nil, expected: { _ in seconds }, timeLimit: time, width: width,
                                   capacity: nil).runsPerTask
        }
        #expect(try choose(nil) == 1)                          // no history: long training runs are not packed
        #expect(try choose(2) == 300)                          // 10 minutes of 2 s runs
        #expect(try choose(2, time: 60) == 15)                 // at most half the time limit
        #expect(try choose(2, width: 8) == 125)                // every slot of the cluster gets a task
        #expect(try choose(2, width: 3) == 167)                // 4 tasks of 300 on 3 slots: one alone; 6 of 167
        #expect(try choose(3600) == 1)
        #expect(TaskPacking.arrays(Self.runs(7), perTask: 2, maxArraySize: 3).map { $0.map(\.count) } == [[2, 2, 2], [1]])
        #expect(TaskPacking.seconds(ofSlurmTime: "90") == 5400 && TaskPacking.seconds(ofSlurmTime: "1-02:00:00") == 93600)
        #expect(TaskPacking.seconds(ofSlurmTime: "05:30") == 330 && TaskPacking.seconds(ofSlurmTime: "UNLIMITED") == nil)
    }

    @Test func scontrolSinfoAndSacctmgrOutputs() {
        let config = ClusterLimits.parseConfig("Configuration data as of 2026-12-05T14:00:00\nMaxArraySize            = 1001\nMinJobAge = 300 sec\n")
        #expect(config["MaxArraySize"] == "1001" && config["MinJobAge"] == "300 sec")
        #expect(ClusterLimits.parseCPUs("10/54/0/64\n0/8/0/8\n") == 72)
        let associations = ClusterLimits.parseAssociations("c|lab||normal|\nc|other|50|long,normal|long\n")
        #expect(associations.limit?.0 == 50 && associations.limit?.1 == "association c/other")
        #expect(associations.qos == ["long", "normal"])
        #expect(ClusterLimits.parseQOS("normal|4\nlong|\n") == ["normal": 4])
    }
}
