import Foundation
import RunContract
import SweepCore
import SweepLedger
@testable import SweepExecute
import Testing

/// Real subprocesses: tiny bash scripts stand in for the engine and honour (or break) the run contract.
@Suite struct LocalExecutorTests {
    static let writeMetrics = """
        printf '%s' '{"engine_version":"sh","tasks":{"semseg":{"name":"mIoU","value":41.5,"direction":"higher"}},\
        "parameters":{"trainable":1,"total":2,"decoder":1,"backbone":1},"gmacs":0.5,"epoch_seconds":[0.1],\
        "artifacts":{},"extra":{}}' > "$2/.metrics.tmp" && mv "$2/.metrics.tmp" "$2/metrics.json"
        """

    /// An executable script in the workspace, called as `script CONFIG OUT`.
    func engine(_ body: String, in space: TemporaryWorkspace) throws -> EngineSpec {
        try FileManager.default.createDirectory(at: space.root, withIntermediateDirectories: true)
        let script = space.root.appendingPathComponent("engine-\(UUID().uuidString.prefix(6)).sh")
        try Data("#!/bin/bash\n\(body)\n".utf8).write(to: script)
        chmod(script.path, 0o755)
        return EngineSpec(command: [script.path, "{config}", "{out}"], identity: "test")
    }

    func executor(_ space: TemporaryWorkspace, _ change: (inout RunOptions) -> Void = { _ in }) -> LocalExecutor {
        LocalExecutor(workspace: space.workspace, ledger: space.ledger, options: options(slots: 1, change))
    }

    func read(_ name: String, of run: String, in space: TemporaryWorkspace) -> String? {
        try? String(contentsOf: space.workspace.runDirectory(id(run)).appendingPathComponent(name), encoding: .utf8)
    }

    /// Waits (up to 10 s) for a file the script writes once it is running.
    func waitFor(_ name: String, of run: String, in space: TemporaryWorkspace) async throws {
        let path = space.workspace.runDirectory(id(run)).appendingPathComponent(name).path
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: path) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(FileManager.default.fileExists(atPath: path), "\(name) never appeared")
    }

    @Test func aRunGetsItsResolvedConfigThreadBudgetLogsAndMetrics() async throws {
        let space = try TemporaryWorkspace()
        let spec = try engine("""
            echo "$MTL_THREADS $OPENBLAS_NUM_THREADS $OMP_NUM_THREADS" > threads.txt
            pwd -P > cwd.txt
            [ "$1" = "$PWD/config.json" ] && echo "config argument ok"
            echo "to stderr" >&2
            \(Self.writeMetrics)
            """, in: space)
        let runs = [run("base"), run("child", needs: ["base": "base"],
                                     config: ["weights": .string(RunReference.make(id("base"), path: "w.bin"))])]
        let summary = try await executor(space) { $0.threadsPerRun = 2 }.execute(plan(runs, engine: spec))

        #expect(summary.succeeded == [id("base"), id("child")])
        let child = space.workspace.runDirectory(id("child"))
        let expected = JSONValue.object([
            "base": .string(space.workspace.runDirectory(id("base")).path),
            "name": .string("child"),
            "weights": .string(space.workspace.runDirectory(id("base")).appendingPathComponent("w.bin").path),
        ]).canonical
        #expect(read(RunFiles.config, of: "child", in: space) == expected)
        #expect(read("threads.txt", of: "child", in: space) == "2 2 2\n")
        #expect(read("cwd.txt", of: "child", in: space) == child.resolvingSymlinksInPath().path + "\n")
        let stdout = try #require(read(RunFiles.stdout, of: "child", in: space))
        #expect(stdout.hasPrefix("==== sweep ") && stdout.contains("attempt 1, 2 threads"))
        #expect(stdout.hasSuffix("config argument ok\n"))
        #expect(read(RunFiles.stderr, of: "child", in: space)?.hasSuffix("to stderr\n") == true)
        let record = try #require(try space.ledger.record(id("child")))
        #expect(record.status == .succeeded && record.exitCode == 0)
        #expect(record.metrics?.tasks["semseg"]?.value == 41.5)
    }

    @Test func aNonZeroExitRecordsTheExitCodeAndTheLast40LinesOfStderr() async throws {
        let space = try TemporaryWorkspace()
        let spec = try engine("for i in $(seq 1 60); do echo \"line $i\" >&2; done; exit 3", in: space)
        let summary = try await executor(space).execute(plan([run("broken")], engine: spec))

        #expect(summary.failed == [id("broken")])
        let record = try #require(try space.ledger.record(id("broken")))
        #expect(record.status == .failed && record.exitCode == 3 && record.reason == nil)
        let tail = try #require(record.stderrTail).split(separator: "\n")
        #expect(tail.count == 40)
        #expect(tail.first == "line 21" && tail.last == "line 60")
    }

    @Test func anEngineKilledByASignalOrUnableToStartFailsWithTheReason() async throws {
        let space = try TemporaryWorkspace()
        let crashing = try engine("echo 'about to crash' >&2; kill -SEGV $$", in: space)
        _ = try await executor(space).execute(plan([run("crash")], engine: crashing))
        let crash = try #require(try space.ledger.record(id("crash")))
        #expect(crash.status == .failed && crash.exitCode == nil && crash.reason == "killed by SIGSEGV")
        #expect(crash.stderrTail == "about to crash")

        let script = space.root.appendingPathComponent("no-interpreter.sh")
        try Data("#!/no/such/interpreter\n".utf8).write(to: script)
        chmod(script.path, 0o755)
        let spec = EngineSpec(command: [script.path], identity: "test")
        _ = try await executor(space).execute(plan([run("unstartable")], engine: spec))
        let unstartable = try #require(try space.ledger.record(id("unstartable")))
        // The attendant's bash says why it could not execute the engine, with the shell's 126 or 127.
        #expect(unstartable.status == .failed && unstartable.exitCode == 127)
        #expect(unstartable.stderrTail?.contains(script.path) == true)
    }

    @Test func exitZeroWithoutValidMetricsIsAFailureThatSaysWhy() async throws {
        let space = try TemporaryWorkspace()
        let silent = try engine("exit 0", in: space)
        _ = try await executor(space).execute(plan([run("silent")], engine: silent))
        let record = try #require(try space.ledger.record(id("silent")))
        #expect(record.status == .failed && record.exitCode == 0)
        #expect(record.reason == "the engine exited 0 without writing metrics.json")

        let sloppy = try engine("echo '{\"engine_version\": \"x\", \"tasks\": {}}' > metrics.json", in: space)
        _ = try await executor(space).execute(plan([run("sloppy")], engine: sloppy))
        let invalid = try #require(try space.ledger.record(id("sloppy")))
        #expect(invalid.status == .failed)
        #expect(invalid.reason == "metrics.json is not valid: missing key `parameters`")
    }

    @Test func aRunOverItsTimeoutIsTerminatedAndRecordedFailed() async throws {
        let space = try TemporaryWorkspace()
        let spec = try engine("echo started >&2; date +%s > engine-started; exec sleep 30", in: space)
        let summary = try await executor(space) { $0.timeout = .milliseconds(300) }
            .execute(plan([run("slow")], engine: spec))
        // Far below the engine's 30 s from the engine's own start: it was terminated, not waited
        // for. (Measured from the engine's start, not the test's: on a loaded CI machine the
        // cooperative pool may be held by other tests for many seconds before the engine starts.)
        let engineStarted = try #require(read("engine-started", of: "slow", in: space)
            .flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(Date().timeIntervalSince1970 - engineStarted < 20)
        #expect(summary.failed == [id("slow")])
        let record = try #require(try space.ledger.record(id("slow")))
        #expect(record.reason == "timeout after 0.3 s (terminated)")
        #expect(record.stderrTail == "started")
    }

    /// Starts `script` as the run `name`, waits until it has written started.txt, sends the stop
    /// requests (200 ms apart) and returns the summary and how long the stop took.
    func stopWhileRunning(_ script: String, name: String, grace: Duration, requests: [StopReason],
                          in space: TemporaryWorkspace) async throws -> (SweepExecute.RunSummary, Duration) {
        let spec = try engine(script, in: space)
        let stop = StopSignal()
        async let summary = executor(space) { $0.grace = grace }
            .execute(plan([run(name)], engine: spec), progress: nil, stop: stop)
        try await waitFor("started.txt", of: name, in: space)
        let clock = ContinuousClock()
        let stopped = clock.now
        for (index, reason) in requests.enumerated() {
            if index > 0 { try await Task.sleep(for: .milliseconds(200)) }
            stop.request(reason)
        }
        let result = try await summary
        return (result, clock.now - stopped)
    }

    @Test func aStopSendsSIGTERMFirst() async throws {
        let space = try TemporaryWorkspace()
        let (summary, waited) = try await stopWhileRunning("""
            trap 'echo term > term.txt; exit 143' TERM
            touch started.txt
            while true; do sleep 0.05; done
            """, name: "polite", grace: .seconds(20), requests: [.signal(SIGTERM)], in: space)
        #expect(waited < .seconds(15), "it should not have waited for the grace period")
        #expect(read("term.txt", of: "polite", in: space) == "term\n")
        #expect(summary.interrupted == [id("polite")] && summary.exitCode == 143)
        #expect(try space.ledger.record(id("polite"))?.reason == "stopped by SIGTERM")
    }

    @Test func anEngineThatIgnoresSIGTERMIsKilledAfterTheGracePeriod() async throws {
        let space = try TemporaryWorkspace()
        // Ignored signals stay ignored across exec, so the sleeps ignore SIGTERM too.
        let (summary, waited) = try await stopWhileRunning("""
            trap '' TERM
            echo $$ > pid.txt
            touch started.txt
            while true; do sleep 0.05; done
            """, name: "stubborn", grace: .milliseconds(600), requests: [.signal(SIGINT)], in: space)
        #expect(waited >= .milliseconds(600) && waited < .seconds(15))
        #expect(summary.interrupted == [id("stubborn")] && summary.exitCode == 130)
        let pid = try #require(read("pid.txt", of: "stubborn", in: space).flatMap {
            pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
        })
        #expect(livingMembers(ofGroup: pid).isEmpty, "a process of the engine's group survived")
    }

    @Test func aSecondStopKillsAtOnce() async throws {
        let space = try TemporaryWorkspace()
        let (summary, waited) = try await stopWhileRunning(
            "trap '' TERM; touch started.txt; while true; do sleep 0.05; done", name: "stubborn",
            grace: .seconds(30), requests: [.signal(SIGINT), .signal(SIGINT)], in: space)
        #expect(waited < .seconds(15))
        #expect(summary.interrupted == [id("stubborn")])
    }

    @Test func ctrlCIsTrappedAndEndsTheRunAsInterrupted() async throws {
        let space = try TemporaryWorkspace()
        let spec = try engine("touch started.txt; exec sleep 30", in: space)
        async let summary = executor(space) { $0.trapSignals = true }.execute(plan([run("long")], engine: spec))
        // The trap is installed before the first launch, so the signal cannot kill the test process.
        try await waitFor("started.txt", of: "long", in: space)
        kill(getpid(), SIGINT)
        let result = try await summary
        #expect(result.interrupted == [id("long")] && result.exitCode == 130)
        #expect(result.stoppedBy == .signal(SIGINT))
    }

    @Test func eachAttemptAppendsToTheLogsUnderItsOwnHeader() async throws {
        let space = try TemporaryWorkspace()
        let spec = try engine("""
            if [ ! -f failed-once ]; then touch failed-once; echo "first attempt failing" >&2; exit 1; fi
            echo "second attempt" >&2
            \(Self.writeMetrics)
            """, in: space)
        let summary = try await executor(space, { $0.retries = 1 }).execute(plan([run("flaky")], engine: spec))
        #expect(summary.succeeded == [id("flaky")])
        #expect(try space.ledger.record(id("flaky"))?.attempts == 2)
        let stderr = try #require(read(RunFiles.stderr, of: "flaky", in: space))
        let headers = stderr.split(separator: "\n").filter { $0.hasPrefix("==== sweep ") }
        #expect(headers.count == 2 && headers[1].contains("attempt 2"))
        #expect(stderr.contains("first attempt failing") && stderr.hasSuffix("second attempt\n"))
    }

    @Test func aMissingEngineIsOneErrorBeforeAnythingStarts() async throws {
        let space = try TemporaryWorkspace()
        let spec = EngineSpec(command: ["./no-such-engine.sh", "{config}"], identity: "test")
        await #expect(throws: ExecuteError.self) {
            _ = try await executor(space).execute(Plan(name: "test", manifest: space.root.appendingPathComponent("m.yaml"),
                                                       runs: [run("x")], engine: spec))
        }
        #expect(try space.ledger.record(id("x")) == nil)
    }

    /// How an orphaned attempt ended, as `sweep` killed with SIGKILL leaves it: the ledger holds the
    /// run as running for a dead pid, and the engine ran to its end under the attendant.
    enum Orphan: CaseIterable {
        case finished, failedAfterMetrics, halfWrittenMetrics, otherAttempt, otherConfig
    }

    @Test(arguments: Orphan.allCases)
    func anEngineThatFinishedAfterItsSweepWasKilledIsAdoptedOnlyWhenItsExitStatusVouchesForIt(_ orphan: Orphan) async throws {
        let space = try TemporaryWorkspace()
        let runs = [run("orphan"), run("after", needs: ["first": "orphan"])]
        // Each execution of the engine leaves a line in `launches`.
        let body: String
        switch orphan {
        case .failedAfterMetrics: body = Self.writeMetrics + "\nexit 1"
        case .halfWrittenMetrics: body = #"printf '{"engine_version":"sh","tas' > metrics.json"#
        default: body = Self.writeMetrics
        }
        let orphaned = try engine("echo x >> launches\n" + body, in: space)
        try space.ledger.register(plan(runs, engine: orphaned))
        let dead = try deadPID()
        #expect(try space.ledger.claim(id("orphan"), pid: dead, host: Ledger.currentHost, retries: 0, rerun: false))
        if orphan == .otherAttempt {
            // The ledger counts a later attempt than the one whose exit status is on disk.
            try space.ledger.finish(id("orphan"), status: .interrupted, exitCode: nil, stderrTail: nil, metrics: nil, reason: nil)
            #expect(try space.ledger.claim(id("orphan"), pid: dead, host: Ledger.currentHost, retries: 0, rerun: false))
        }

        // The attempt, started as the launcher starts it, and left to end on its own.
        let directory = space.workspace.runDirectory(id("orphan"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = Data(runs[0].config.canonical.utf8)
        try config.write(to: directory.appendingPathComponent(RunFiles.config))
        let launched = orphan == .otherConfig ? Data("{}".utf8) : config
        let token = Attendant.token(run: id("orphan"), attempt: 1, engine: "test", config: launched)
        let attendant = Process()
        attendant.executableURL = URL(fileURLWithPath: Attendant.shell)
        attendant.arguments = Attendant.arguments(token: token, engine: orphaned.command![0],
                                                  [directory.appendingPathComponent(RunFiles.config).path, directory.path])
        attendant.currentDirectoryURL = directory
        try attendant.run()
        attendant.waitUntilExit()
        #expect(read(RunFiles.exitStatus, of: "orphan", in: space)?.contains("exit_code=") == true)

        // The next `sweep run`, with an engine that would succeed.
        let summary = try await executor(space).execute(plan(runs, engine: try engine("echo x >> launches\n" + Self.writeMetrics, in: space)))
        let record = try #require(try space.ledger.record(id("orphan")))
        #expect(record.status == .succeeded && summary.succeeded.contains(id("after")))
        if orphan == .finished {
            #expect(summary.adoptedOrphans == [id("orphan")] && summary.alreadyDone == [id("orphan")])
            #expect(summary.recoveredOrphans.isEmpty)
            #expect(read("launches", of: "orphan", in: space) == "x\n", "the finished run was executed again")
            #expect(record.attempts == 1 && record.metrics?.tasks["semseg"]?.value == 41.5)
            #expect(record.reason?.contains("adopted") == true)
        } else {
            #expect(summary.adoptedOrphans.isEmpty && summary.succeeded.contains(id("orphan")))
            #expect(read("launches", of: "orphan", in: space) == "x\nx\n")
        }
    }

    @Test func aStrayEngineFromAKilledSweepIsStoppedBeforeTheRunStartsAgain() async throws {
        let space = try TemporaryWorkspace()
        let directory = space.workspace.runDirectory(id("resumed"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A process group leader sitting in the run directory, as an orphaned engine would.
        let stray = Process()
        stray.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        // It sleeps far longer than the test may take on a loaded machine: a stray that ended on
        // its own would leave nothing to stop (and the stop message unwritten).
        stray.arguments = ["/bin/sh", "-c", "echo $$ > stray.pid; exec sleep 600"]
        stray.currentDirectoryURL = directory
        try stray.run()
        try await waitFor("stray.pid", of: "resumed", in: space)
        let pid = try #require(read("stray.pid", of: "resumed", in: space).flatMap {
            pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
        })
        EngineProcessFile.write(pid: pid, in: directory)
        defer { kill(-pid, SIGKILL) }  // if the executor did not stop it

        let spec = try engine("echo 'cannot resume' >&2; exit 4", in: space)
        let summary = try await executor(space).execute(plan([run("resumed")], engine: spec))
        #expect(summary.failed == [id("resumed")])
        #expect(try space.ledger.record(id("resumed"))?.stderrTail == "cannot resume")
        #expect(!EngineProcessFile.isRunning(pid), "the stray engine still runs")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent(EngineProcessFile.name).path))
        #expect(read(RunFiles.stderr, of: "resumed", in: space)?
            .contains("stopped engine process group \(pid), left running here by a sweep that ended") == true)
    }
}

/// Processes of a process group that are alive (not zombies waiting for a parent that is gone).
func livingMembers(ofGroup group: pid_t) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> pid_t? in
        guard let pid = pid_t(entry),
              let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After the name: state, ppid, pgrp.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, fields[0] != "Z", pid_t(fields[2]) == group else { return nil }
        return pid
    }
}
