import Foundation
import RunContract
import SweepCore
import SweepLedger
@testable import SweepExecute
import Testing

/// The scheduler over the real ledger, with scripted outcomes (no processes).
@Suite struct SchedulingTests {
    /// pretrain -> (a, b) -> c, plus an independent d.
    static let diamond = [
        run("pretrain", group: "pretrain"),
        run("a", needs: ["pretrain": "pretrain"]),
        run("b", needs: ["pretrain": "pretrain"]),
        run("c", needs: ["left": "a", "right": "b"]),
        run("d"),
    ]

    @Test func runsStartOnlyAfterEveryDependencySucceeded() async throws {
        let space = try TemporaryWorkspace()
        let timeline = Timeline()
        let executor = FakeExecutor(ledger: space.ledger, options: options(slots: 3)) { attempt in
            timeline.mark(.start(attempt.name))
            try? await Task.sleep(for: .milliseconds(10))
            timeline.mark(.end(attempt.name))
            return .succeeded(FakeExecutor.metrics())
        }
        let summary = try await executor.execute(plan(Self.diamond))

        #expect(Set(summary.succeeded) == Set(Self.diamond.map(\.id)))
        #expect(summary.exitCode == 0 && summary.isComplete)
        for dependent in Self.diamond {
            let started = try #require(timeline.index(.start(dependent.label!)))
            for dependency in dependent.needs.values {
                let name = String(dependency.rawValue.dropFirst("run-".count))
                let ended = try #require(timeline.index(.end(name)))
                #expect(ended < started, "\(dependent.label!) started before \(name) ended")
            }
        }
        let records = try space.ledger.records(Self.diamond.map(\.id))
        #expect(records.values.allSatisfy { $0.status == .succeeded && $0.attempts == 1 && $0.metrics != nil })
    }

    @Test func readyRunsStartInPlanOrder() async throws {
        let space = try TemporaryWorkspace()
        let runs = (0..<6).map { run("r\($0)") }
        let executor = FakeExecutor(ledger: space.ledger, options: options(slots: 1))
        _ = try await executor.execute(plan(runs))
        #expect(executor.attempts.map(\.name) == runs.map { $0.label! })
        #expect(executor.attempts.allSatisfy { $0.threads == 1 && !$0.startFresh && $0.number == 1 })
    }

    /// A run that starts alone (everything else needs it) gets the idle cores when the engine's
    /// results do not depend on the thread count; the runs after it share the cores as budgeted.
    @Test func aRunStartingAloneGetsTheIdleCores() async throws {
        let runs = [run("pretrain"), run("a", needs: ["p": "pretrain"]), run("b", needs: ["p": "pretrain"])]
        let derived = options(slots: 2) { $0.threadsPerRun = nil; $0.cores = 4 }
        let space = try TemporaryWorkspace()
        let executor = FakeExecutor(ledger: space.ledger, options: derived)
        _ = try await executor.execute(plan(runs))
        // a and b start together: their attempts are logged in whichever order their tasks run.
        let started = executor.attempts.map { "\($0.name):\($0.threads)" }
        #expect(started.first == "pretrain:4" && Set(started.dropFirst()) == ["a:2", "b:2"] && started.count == 3)

        // Not for an engine that does not say so, nor when the threads per run were given.
        let own = EngineSpec(command: ["train"], identity: "own")
        let other = try TemporaryWorkspace()
        let undeclared = FakeExecutor(ledger: other.ledger, options: derived)
        _ = try await undeclared.execute(plan(runs, engine: own))
        #expect(undeclared.attempts.map(\.threads) == [2, 2, 2])
        let third = try TemporaryWorkspace()
        let fixed = FakeExecutor(ledger: third.ledger, options: options(slots: 2) { $0.cores = 4 })
        _ = try await fixed.execute(plan(runs))
        #expect(fixed.attempts.map(\.threads) == [1, 1, 1])
    }

    @Test func atMostSlotsRunsRunAtOnce() async throws {
        let space = try TemporaryWorkspace()
        let executor = FakeExecutor(ledger: space.ledger, options: options(slots: 3)) { _ in
            try? await Task.sleep(for: .milliseconds(5))
            return .succeeded(FakeExecutor.metrics())
        }
        let summary = try await executor.execute(plan((0..<12).map { run("r\($0)") }))
        #expect(executor.peakConcurrency == 3 && summary.succeeded.count == 12)
    }

    @Test func aFailureSkipsItsDependentsWithTheReasonAndTheRestContinues() async throws {
        let space = try TemporaryWorkspace()
        let events = EventLog()
        let executor = FakeExecutor(ledger: space.ledger, options: options()) { attempt in
            attempt.name == "pretrain" ? .failed(exitCode: 3, stderrTail: "out of memory", reason: nil)
                                       : .succeeded(FakeExecutor.metrics())
        }
        let summary = try await executor.execute(plan(Self.diamond), progress: events)

        #expect(summary.failed == [id("pretrain")])
        #expect(summary.skipped == [id("a"), id("b"), id("c")])
        #expect(summary.succeeded == [id("d")])
        #expect(summary.exitCode == 1)
        #expect(executor.attempts.map(\.name).sorted() == ["d", "pretrain"])

        let a = try #require(try space.ledger.record(id("a")))
        #expect(a.status == .skipped)
        #expect(a.reason == "needs `pretrain` (run run-pretrain), which failed: exit code 3")
        let c = try #require(try space.ledger.record(id("c")))
        #expect(c.status == .skipped)
        #expect(c.reason?.hasSuffix("which was skipped") == true)
        #expect(c.reason?.contains("needs `left` (run run-a)") == true)
        let pretrain = try #require(try space.ledger.record(id("pretrain")))
        #expect(pretrain.status == .failed && pretrain.exitCode == 3 && pretrain.stderrTail == "out of memory")
        #expect(events.all.contains(.skipped(Self.diamond[1], reason: a.reason!)))
    }

    @Test func failFastStopsLaunchingAfterTheFirstFailure() async throws {
        let space = try TemporaryWorkspace()
        let runs = (0..<5).map { run("r\($0)") }
        let executor = FakeExecutor(ledger: space.ledger, options: options(slots: 1) { $0.failFast = true }) { attempt in
            attempt.name == "r1" ? .failed(exitCode: 1, stderrTail: nil, reason: nil) : .succeeded(FakeExecutor.metrics())
        }
        let summary = try await executor.execute(plan(runs))
        #expect(summary.succeeded == [id("r0")])
        #expect(summary.failed == [id("r1")])
        #expect(summary.notStarted == [id("r2"), id("r3"), id("r4")])
        #expect(summary.stoppedBy == .failFast(id("r1")))
        #expect(summary.exitCode == 1)
        #expect(try space.ledger.record(id("r3"))?.status == .planned)
    }

    @Test func aFailingRunIsRetriedWithinItsBudgetAcrossInvocations() async throws {
        let space = try TemporaryWorkspace()
        let flaky = [run("flaky")]
        let alwaysFails: FakeExecutor.Script = { _ in .failed(exitCode: 1, stderrTail: "bad", reason: nil) }

        let first = FakeExecutor(ledger: space.ledger, options: options(retries: 2), script: alwaysFails)
        let summary = try await first.execute(plan(flaky))
        #expect(first.attempts.map(\.number) == [1, 2, 3])
        #expect(summary.failed == [id("flaky")])
        #expect(try space.ledger.record(id("flaky"))?.attempts == 3)

        // The budget is spent: the next invocation does not launch it, and says why.
        let events = EventLog()
        let second = FakeExecutor(ledger: space.ledger, options: options(retries: 2), script: alwaysFails)
        let again = try await second.execute(plan(flaky), progress: events)
        #expect(second.attempts.isEmpty)
        #expect(again.failed == [id("flaky")])
        #expect(events.all.contains { event in
            if case .finished(_, .failed, let detail?) = event { return detail.contains("retry budget of 2 spent") }
            return false
        })

        // --retry-failed gives it a fresh budget.
        let third = FakeExecutor(ledger: space.ledger, options: options(retries: 1) { $0.retryFailed = true }) { attempt in
            attempt.number == 2 ? .succeeded(FakeExecutor.metrics()) : .failed(exitCode: 1, stderrTail: nil, reason: nil)
        }
        let retried = try await third.execute(plan(flaky))
        #expect(third.attempts.map(\.number) == [1, 2])
        #expect(retried.succeeded == [id("flaky")])
        #expect(try space.ledger.record(id("flaky"))?.status == .succeeded)
    }

    /// Exit 2 is bad input (run contract): the same config fails the same way, so it is not
    /// tried again in this invocation; the next one may (the data it names may have been fixed).
    @Test func badInputIsNotRetriedInTheSameInvocation() async throws {
        let space = try TemporaryWorkspace()
        let badInput: FakeExecutor.Script = { _ in .failed(exitCode: 2, stderrTail: "key 'rank': expected 1...4096", reason: nil) }
        let first = FakeExecutor(ledger: space.ledger, options: options(retries: 2), script: badInput)
        let summary = try await first.execute(plan([run("bad")]))
        #expect(first.attempts.map(\.number) == [1])
        #expect(summary.failed == [id("bad")])
        let second = FakeExecutor(ledger: space.ledger, options: options(retries: 2), script: badInput)
        _ = try await second.execute(plan([run("bad")]))
        #expect(second.attempts.map(\.number) == [1])
    }

    @Test func resumeSkipsSucceededRunsAndRerunStartsThemFresh() async throws {
        let space = try TemporaryWorkspace()
        let first = FakeExecutor(ledger: space.ledger, options: options()) { attempt in
            attempt.name == "b" ? .failed(exitCode: 1, stderrTail: nil, reason: nil) : .succeeded(FakeExecutor.metrics())
        }
        _ = try await first.execute(plan(Self.diamond))

        let second = FakeExecutor(ledger: space.ledger, options: options(retries: 1))
        let resumed = try await second.execute(plan(Self.diamond))
        // b failed once, within the budget of 1: it runs again, then c (skipped before) runs.
        #expect(second.attempts.map(\.name) == ["b", "c"])
        #expect(Set(resumed.alreadyDone) == [id("pretrain"), id("a"), id("d")])
        #expect(resumed.succeeded == [id("b"), id("c")])

        let third = FakeExecutor(ledger: space.ledger, options: options())
        let nothingLeft = try await third.execute(plan(Self.diamond))
        #expect(third.attempts.isEmpty)
        #expect(nothingLeft.alreadyDone.count == 5 && nothingLeft.isComplete)

        let rerun = FakeExecutor(ledger: space.ledger, options: options { $0.rerun = true })
        let again = try await rerun.execute(plan(Self.diamond))
        #expect(rerun.attempts.count == 5 && rerun.attempts.allSatisfy(\.startFresh))
        #expect(again.succeeded.count == 5)
    }

    @Test func aRunLeftRunningByADeadSweepIsRecoveredAndRunAgain() async throws {
        let space = try TemporaryWorkspace()
        let runs = [run("orphan"), run("after", needs: ["first": "orphan"])]
        try space.ledger.register(plan(runs))
        let dead = try deadPID()
        #expect(try space.ledger.claim(id("orphan"), pid: dead, host: Ledger.currentHost, retries: 0, rerun: false))

        let executor = FakeExecutor(ledger: space.ledger, options: options())
        let summary = try await executor.execute(plan(runs))
        #expect(summary.recoveredOrphans == [id("orphan")])
        #expect(executor.attempts.map(\.name) == ["orphan", "after"])
        #expect(summary.succeeded == [id("orphan"), id("after")])
        #expect(try space.ledger.record(id("orphan"))?.attempts == 2)
    }

    @Test func aRunHeldByAnotherSweepIsAwaitedNotRepeated() async throws {
        let space = try TemporaryWorkspace()
        let runs = [run("shared"), run("mine", needs: ["base": "shared"])]
        try space.ledger.register(plan(runs))
        // This test process stands in for the other, live `sweep`.
        #expect(try space.ledger.claim(id("shared"), pid: getpid(), host: Ledger.currentHost, retries: 0, rerun: false))

        let events = EventLog()
        let executor = FakeExecutor(ledger: space.ledger, options: options())
        async let summary = executor.execute(plan(runs), progress: events)
        // Until it waits for the run (a fixed 100 ms was too short on a loaded machine).
        for _ in 0..<1000 where !events.all.contains(.waitingElsewhere(runs[0])) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(executor.attempts.isEmpty)
        try space.ledger.finish(id("shared"), status: .succeeded, exitCode: 0, stderrTail: nil,
                                metrics: FakeExecutor.metrics(), reason: nil)
        let result = try await summary
        #expect(executor.attempts.map(\.name) == ["mine"])
        #expect(result.alreadyDone == [id("shared")] && result.succeeded == [id("mine")])
        #expect(events.all.contains(.waitingElsewhere(runs[0])))
        #expect(events.all.contains(.finishedElsewhere(runs[0], status: .succeeded)))
    }

    @Test func twoSweepsOnOneWorkspaceShareTheGridAndRunEachRunOnce() async throws {
        let space = try TemporaryWorkspace()
        // Ten independent pretrains, each needed by two fine-tunes.
        let runs = (0..<10).flatMap { index in
            [run("p\(index)", group: "pretrain"),
             run("a\(index)", needs: ["base": "p\(index)"]), run("b\(index)", needs: ["base": "p\(index)"])]
        }
        let script: FakeExecutor.Script = { _ in
            try? await Task.sleep(for: .milliseconds(Int.random(in: 1...8)))
            return .succeeded(FakeExecutor.metrics())
        }
        // Two ledgers on one database, owned by two live processes (this one and its parent).
        let first = FakeExecutor(ledger: space.ledger, options: options(slots: 2), script: script)
        let second = FakeExecutor(ledger: try Ledger(workspace: space.workspace),
                                  options: options(slots: 2) { $0.pid = getppid() }, script: script)
        async let one = first.execute(plan(runs))
        async let two = second.execute(plan(runs))
        let (summaryOne, summaryTwo) = try await (one, two)

        let executed = (first.attempts + second.attempts).map(\.run.id)
        #expect(executed.count == runs.count && Set(executed) == Set(runs.map(\.id)))
        #expect(summaryOne.isComplete && summaryTwo.isComplete)
        #expect(Set(summaryOne.succeeded).isDisjoint(with: summaryTwo.succeeded))
        #expect(try space.ledger.allRecords().allSatisfy { $0.status == .succeeded && $0.attempts == 1 })
    }

    @Test func aRunThatFailsInAnotherSweepSkipsDependentsHereToo() async throws {
        let space = try TemporaryWorkspace()
        let runs = [run("shared"), run("mine", needs: ["base": "shared"])]
        try space.ledger.register(plan(runs))
        #expect(try space.ledger.claim(id("shared"), pid: getpid(), host: Ledger.currentHost, retries: 0, rerun: false))

        let executor = FakeExecutor(ledger: space.ledger, options: options(retries: 0))
        async let summary = executor.execute(plan(runs))
        try await Task.sleep(for: .milliseconds(60))
        try space.ledger.finish(id("shared"), status: .failed, exitCode: 9, stderrTail: nil, metrics: nil, reason: nil)
        let result = try await summary
        #expect(executor.attempts.isEmpty)
        #expect(result.failed == [id("shared")] && result.skipped == [id("mine")])
        #expect(try space.ledger.record(id("mine"))?.reason == "needs `base` (run run-shared), which failed: exit code 9")
    }

    @Test func aStopInterruptsRunningRunsAndLeavesTheRestForResume() async throws {
        let space = try TemporaryWorkspace()
        let runs = (0..<4).map { run("r\($0)") }
        let stop = StopSignal()
        let executor = FakeExecutor(ledger: space.ledger, options: options(slots: 2)) { _ in
            try? await Task.sleep(for: .seconds(30))
            return .succeeded(FakeExecutor.metrics())
        }
        async let summary = executor.execute(plan(runs), progress: nil, stop: stop)
        while executor.attempts.count < 2 { try await Task.sleep(for: .milliseconds(5)) }
        stop.request(.signal(SIGINT))
        let result = try await summary

        #expect(result.interrupted == [id("r0"), id("r1")])
        #expect(result.notStarted == [id("r2"), id("r3")])
        #expect(result.exitCode == 130)
        let r0 = try #require(try space.ledger.record(id("r0")))
        #expect(r0.status == .interrupted && r0.reason == "stopped by SIGINT")

        let resume = FakeExecutor(ledger: space.ledger, options: options(slots: 2))
        let resumed = try await resume.execute(plan(runs))
        // r0 and r1 start together, so their order in the log is a race.
        #expect(resume.attempts.map(\.name).sorted() == ["r0", "r1", "r2", "r3"])
        #expect(resumed.isComplete)
    }

    @Test func aDependencyOutsideThePlanMustHaveSucceeded() async throws {
        let space = try TemporaryWorkspace()
        let lonely = run("lonely", needs: ["base": "elsewhere"])
        let executor = FakeExecutor(ledger: space.ledger, options: options())
        let summary = try await executor.execute(plan([lonely]))
        #expect(summary.skipped == [id("lonely")])
        #expect(try space.ledger.record(id("lonely"))?.reason
                == "needs `base` (run run-elsewhere), which is not part of this plan and has not succeeded")
    }

    @Test func duplicateRunsInAPlanRunOnce() async throws {
        let space = try TemporaryWorkspace()
        let executor = FakeExecutor(ledger: space.ledger, options: options())
        let summary = try await executor.execute(plan([run("same"), run("same")]))
        #expect(executor.attempts.count == 1 && summary.succeeded == [id("same")])
    }
}

/// The pid of a process that has exited and been reaped.
func deadPID() throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/true")
    try process.run()
    process.waitUntilExit()
    return process.processIdentifier
}

@Suite struct PlanOrderQueueTests {
    @Test func theEarliestPlanPositionComesFirst() {
        var queue = PlanOrderQueue([7, 3, 9])
        // Scrambled positions, and a run made ready twice.
        let more = (0..<200).map { ($0 * 7919) % 1009 } + [3, 3]
        for position in more { queue.insert(position) }
        var popped: [Int] = []
        while let position = queue.popFirst() { popped.append(position) }
        #expect(popped == ([7, 3, 9] + more).sorted())
        #expect(queue.isEmpty && queue.popFirst() == nil)
    }
}
