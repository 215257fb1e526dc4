import Foundation
import RunContract
import SweepCore
import Testing
@testable import SweepLedger

/// A fresh workspace under the temporary directory, removed when the test ends.
final class TemporaryWorkspace {
    let workspace: Workspace
    init() {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("sweep-ledger-tests-\(UUID().uuidString)")
        workspace = Workspace(root: root)
    }
    deinit { try? FileManager.default.removeItem(at: workspace.root) }
}

/// A plan of `count` runs in group `group`; run i has config {"group": group, "i": i}.
func makePlan(name: String = "grid", group: String = "grid", count: Int, needs: [String: RunID] = [:]) -> Plan {
    let runs = (0 ..< count).map { index -> PlannedRun in
        let config = JSONValue.object(["group": .string(group), "i": .int(index)])
        return PlannedRun(id: RunID(config: config, engine: EngineSpec()), group: group, label: "row \(index % 3)",
                          seed: index % 2, config: config, needs: needs, axes: ["i": .int(index)])
    }
    return Plan(name: name, runs: runs)
}

func sampleMetrics(epochSeconds: [Double] = [2, 4]) -> RunMetrics {
    RunMetrics(engineVersion: "test", tasks: ["semseg": TaskMetric(name: "mIoU", value: 41.5, direction: .higher)],
               parameters: ParameterCounts(trainable: 10, total: 100, decoder: 5, backbone: 90),
               gmacs: 1.5, epochSeconds: epochSeconds, artifacts: ["backbone": "b.bin"], extra: ["top1": 60])
}

let host = Ledger.currentHost
let me = getpid()

@Suite struct RegistrationTests {
    @Test func registeringCreatesPlannedRunsAndIsIdempotent() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 5)
        try ledger.register(plan)
        try ledger.register(plan)
        let records = try ledger.allRecords()
        #expect(records.count == 5)
        #expect(records.allSatisfy { $0.status == .planned && $0.attempts == 0 })
        #expect(try ledger.entries(.sweep("grid")).map(\.id) == plan.runs.map(\.id))
        #expect(FileManager.default.fileExists(atPath: temporary.workspace.root.appendingPathComponent("runs").path))
    }

    @Test func registeringKeepsTheStateOfKnownRuns() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 3)
        try ledger.register(plan)
        let id = plan.runs[1].id
        #expect(try ledger.claim(id, pid: me, host: host, retries: 0, rerun: false))
        try ledger.finish(id, status: .succeeded, exitCode: 0, stderrTail: nil, metrics: sampleMetrics(), reason: nil)
        try ledger.register(plan)
        #expect(try ledger.record(id)?.status == .succeeded)
        #expect(try ledger.record(id)?.metrics == sampleMetrics())
    }

    @Test func aRunSharedByTwoSweepsIsOneRun() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let first = makePlan(name: "ablation", count: 4)
        var second = makePlan(name: "main", group: "main", count: 2)
        second.runs.append(first.runs[3])
        try ledger.register(first)
        try ledger.register(second)
        #expect(try ledger.allRecords().count == 6)
        #expect(try ledger.sweeps() == ["ablation", "main"])
        #expect(try ledger.entries(.sweep("main")).map(\.id) == second.runs.map(\.id))
        #expect(try ledger.registration(first.runs[3].id)?.sweeps == ["ablation", "main"])
    }

    @Test func aReplannedSweepListsOnlyItsCurrentRuns() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        try ledger.register(makePlan(count: 6))
        let smaller = makePlan(count: 2)
        try ledger.register(smaller)
        #expect(try ledger.entries(.sweep("grid")).map(\.id) == smaller.runs.map(\.id))
        // The other runs stay in the ledger: their results are not thrown away.
        #expect(try ledger.allRecords().count == 6)
        #expect(Set(try ledger.entries(.unlisted).map(\.id)) == Set(makePlan(count: 6).runs.dropFirst(2).map(\.id)))
    }

    @Test func registrationKeepsConfigNeedsAndAxes() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let pretrain = makePlan(name: "m", group: "pretrain", count: 1)
        var plan = makePlan(name: "m", count: 2, needs: ["pretrain": pretrain.runs[0].id])
        plan.runs.insert(pretrain.runs[0], at: 0)
        try ledger.register(plan)
        let registered = try #require(try ledger.registration(plan.runs[2].id))
        #expect(registered.run == plan.runs[2])
        #expect(registered.sweeps == ["m"])
        #expect(try ledger.registration(RunID(rawValue: "0000000000000000")) == nil)
    }

    @Test func existingDoesNotCreateAWorkspace() throws {
        let temporary = TemporaryWorkspace()
        #expect(try Ledger.existing(workspace: temporary.workspace) == nil)
        #expect(!FileManager.default.fileExists(atPath: temporary.workspace.root.path))
        _ = try Ledger(workspace: temporary.workspace)
        #expect(try Ledger.existing(workspace: temporary.workspace) != nil)
    }
}

@Suite struct ClaimTests {
    @Test func aPlannedRunIsClaimedOnce() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 1)
        try ledger.register(plan)
        let id = plan.runs[0].id
        #expect(try ledger.claim(id, pid: me, host: host, retries: 3, rerun: false))
        #expect(try !ledger.claim(id, pid: me, host: host, retries: 3, rerun: false))
        // Not even --rerun takes a run that is running.
        #expect(try !ledger.claim(id, pid: me, host: host, retries: 3, rerun: true))
        let record = try #require(try ledger.record(id))
        #expect(record.status == .running && record.attempts == 1 && record.ownerPID == me && record.host == host)
        #expect(record.startedAt != nil && record.finishedAt == nil)
    }

    @Test func anUnknownRunCannotBeClaimed() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        #expect(try !ledger.claim(RunID(rawValue: "abc"), pid: me, host: host, retries: 1, rerun: true))
    }

    @Test func failedRunsAreRetriedWithinTheBudget() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 1)
        try ledger.register(plan)
        let id = plan.runs[0].id
        var launches = 0
        while try ledger.claim(id, pid: me, host: host, retries: 2, rerun: false) {
            launches += 1
            try ledger.finish(id, status: .failed, exitCode: 3, stderrTail: "boom \(launches)", metrics: nil, reason: nil)
        }
        #expect(launches == 3)
        let record = try #require(try ledger.record(id))
        #expect(record.status == .failed && record.exitCode == 3 && record.stderrTail == "boom 3" && record.attempts == 3)
        // A larger budget next time allows another attempt.
        #expect(try ledger.claim(id, pid: me, host: host, retries: 3, rerun: false))
        try ledger.finish(id, status: .failed, exitCode: 3, stderrTail: nil, metrics: nil, reason: nil)
        #expect(try !ledger.claim(id, pid: me, host: host, retries: 3, rerun: false))
    }

    @Test func interruptionsDoNotSpendTheRetryBudget() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 1)
        try ledger.register(plan)
        let id = plan.runs[0].id
        for _ in 0 ..< 3 {
            #expect(try ledger.claim(id, pid: me, host: host, retries: 0, rerun: false))
            try ledger.finish(id, status: .interrupted, exitCode: nil, stderrTail: nil, metrics: nil, reason: "SIGINT")
        }
        #expect(try ledger.claim(id, pid: me, host: host, retries: 0, rerun: false))
        try ledger.finish(id, status: .failed, exitCode: 1, stderrTail: nil, metrics: nil, reason: nil)
        #expect(try !ledger.claim(id, pid: me, host: host, retries: 0, rerun: false))
        #expect(try ledger.record(id)?.attempts == 4)
    }

    @Test func succeededRunsAreClaimedOnlyForARerun() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 1)
        try ledger.register(plan)
        let id = plan.runs[0].id
        #expect(try ledger.claim(id, pid: me, host: host, retries: 0, rerun: false))
        try ledger.finish(id, status: .succeeded, exitCode: 0, stderrTail: nil, metrics: sampleMetrics(), reason: nil)
        #expect(try !ledger.claim(id, pid: me, host: host, retries: 5, rerun: false))
        #expect(try ledger.claim(id, pid: me, host: host, retries: 0, rerun: true))
        #expect(try ledger.record(id)?.attempts == 2)
    }

    @Test func skippedRunsCanRunOnceTheirDependencyIsFixed() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 1)
        try ledger.register(plan)
        let id = plan.runs[0].id
        try ledger.skip(id, reason: "needs pretrain (abc): failed")
        let record = try #require(try ledger.record(id))
        #expect(record.status == .skipped && record.reason == "needs pretrain (abc): failed")
        #expect(try ledger.claim(id, pid: me, host: host, retries: 0, rerun: false))
        #expect(try ledger.record(id)?.reason == nil)
    }

    @Test func skipNeverErasesASuccessOrARunningRun() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 2)
        try ledger.register(plan)
        let (done, busy) = (plan.runs[0].id, plan.runs[1].id)
        #expect(try ledger.claim(done, pid: me, host: host, retries: 0, rerun: false))
        try ledger.finish(done, status: .succeeded, exitCode: 0, stderrTail: nil, metrics: sampleMetrics(), reason: nil)
        #expect(try ledger.claim(busy, pid: me, host: host, retries: 0, rerun: false))
        try ledger.skip(done, reason: "x")
        try ledger.skip(busy, reason: "x")
        #expect(try ledger.record(done)?.status == .succeeded)
        #expect(try ledger.record(busy)?.status == .running)
    }

    /// Two ledgers (as two `sweep` processes would open) and several threads each race for
    /// every run: each run must be won exactly once.
    @Test func concurrentClaimsNeverShareARun() async throws {
        let temporary = TemporaryWorkspace()
        let first = try Ledger(workspace: temporary.workspace)
        let second = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 150)
        try first.register(plan)
        try second.register(plan)
        let ids = plan.runs.map(\.id)
        let wins = try await withThrowingTaskGroup(of: [RunID].self) { group in
            for worker in 0 ..< 6 {
                let ledger = worker.isMultiple(of: 2) ? first : second
                group.addTask {
                    var won: [RunID] = []
                    // Workers walk the runs in different orders so they collide mid-list too.
                    for id in worker < 3 ? ids : ids.reversed()
                    where try ledger.claim(id, pid: Int32(1000 + worker), host: host, retries: 0, rerun: false) {
                        won.append(id)
                    }
                    return won
                }
            }
            var all: [RunID] = []
            for try await won in group { all += won }
            return all
        }
        #expect(wins.count == ids.count)
        #expect(Set(wins) == Set(ids))
        #expect(try first.counts() == [.running: 150])
    }
}

@Suite struct FinishAndRecoveryTests {
    @Test func finishStoresMetricsAndTimestamps() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 2)
        try ledger.register(plan)
        let id = plan.runs[0].id
        #expect(try ledger.claim(id, pid: me, host: host, retries: 0, rerun: false))
        try ledger.finish(id, status: .succeeded, exitCode: 0, stderrTail: "last line", metrics: sampleMetrics(), reason: nil)
        let record = try #require(try ledger.records([id, plan.runs[1].id, RunID(rawValue: "ffff")])[id])
        #expect(record.status == .succeeded && record.exitCode == 0 && record.stderrTail == "last line")
        #expect(record.metrics == sampleMetrics())
        #expect(try #require(record.finishedAt) >= (try #require(record.startedAt)))
        #expect(try ledger.records(plan.runs.map(\.id)).count == 2)
        #expect(try ledger.groupTimings() == ["grid": GroupTiming(group: "grid", runs: 1, meanTrainSeconds: 6, meanEpochSeconds: 3)])
    }

    @Test func groupTimingsRelateWallTimeToTrainingTime() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 3)
        try ledger.register(plan)
        // Two runs ran whole in one attempt: 6 s of training in 12 s, and in 18 s.
        for (run, wall) in zip(plan.runs.prefix(2), [12.0, 18.0]) {
            #expect(try ledger.claim(run.id, pid: me, host: host, retries: 0, rerun: false))
            let started = try #require(try ledger.record(run.id)?.startedAt)
            try ledger.finish(run.id, status: .succeeded, exitCode: 0, stderrTail: nil, metrics: sampleMetrics(),
                              reason: nil, at: started.addingTimeInterval(wall))
        }
        // A resumed run's last attempt did part of the work in 1 s: its training counts, its wall time does not.
        let resumed = plan.runs[2].id
        #expect(try ledger.claim(resumed, pid: me, host: host, retries: 0, rerun: false))
        try ledger.finish(resumed, status: .interrupted, exitCode: nil, stderrTail: nil, metrics: nil, reason: "stopped")
        #expect(try ledger.claim(resumed, pid: me, host: host, retries: 0, rerun: false))
        let started = try #require(try ledger.record(resumed)?.startedAt)
        try ledger.finish(resumed, status: .succeeded, exitCode: 0, stderrTail: nil, metrics: sampleMetrics(),
                          reason: nil, at: started.addingTimeInterval(1))
        let timing = try #require(try ledger.groupTimings()["grid"])
        #expect(timing.runs == 3 && timing.meanTrainSeconds == 6 && timing.meanEpochSeconds == 3)
        #expect(abs(timing.wallPerTrainingSecond - 30.0 / 12) < 1e-6)
    }

    /// issue 20: after a smoke run, the full grid's ETA was the smoke runs' 16 s for 11 minutes of
    /// work. A group's timings are kept per profile, and a run is estimated from its own profile's.
    @Test func groupTimingsAreKeptPerProfile() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let smoke = JSONValue.object(["i": .int(0), "profile": .string("smoke")])
        let full = JSONValue.object(["i": .int(0)])
        let runs = [smoke, full].map { PlannedRun(id: RunID(config: $0, engine: EngineSpec()), group: "grid", seed: 0, config: $0) }
        try ledger.register(Plan(name: "grid", runs: runs))
        #expect(try ledger.claim(runs[0].id, pid: me, host: host, retries: 0, rerun: false))
        try ledger.finish(runs[0].id, status: .succeeded, exitCode: 0, stderrTail: nil, metrics: sampleMetrics(), reason: nil)
        let timings = try ledger.groupTimings()
        #expect(Set(timings.keys) == [GroupTiming.key(group: "grid", profile: "smoke")])
        #expect(GroupTiming.expectedSeconds(of: runs[0], timings: timings) == 6)
        #expect(GroupTiming.expectedSeconds(of: runs[1], timings: timings) == nil, "a full run estimated from a smoke run")
    }

    @Test func recordsFindsManyRuns() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 1200)
        try ledger.register(plan)
        // More ids than SQLite binds in one statement.
        #expect(try ledger.records(plan.runs.map(\.id)).count == 1200)
    }

    @Test func runsOfADeadProcessBecomeInterrupted() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 3)
        try ledger.register(plan)
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/sh")
        finished.arguments = ["-c", "exit 0"]
        try finished.run()
        finished.waitUntilExit()
        let dead = finished.processIdentifier
        #expect(try ledger.claim(plan.runs[0].id, pid: dead, host: host, retries: 0, rerun: false))
        #expect(try ledger.claim(plan.runs[1].id, pid: me, host: host, retries: 0, rerun: false))
        #expect(try ledger.claim(plan.runs[2].id, pid: dead, host: "another-machine", retries: 0, rerun: false))
        #expect(try ledger.recoverOrphans(host: host) == [plan.runs[0].id])
        let record = try #require(try ledger.record(plan.runs[0].id))
        #expect(record.status == .interrupted)
        #expect(record.reason?.contains("pid \(dead)") == true)
        #expect(try ledger.record(plan.runs[1].id)?.status == .running)
        #expect(try ledger.record(plan.runs[2].id)?.status == .running)
        #expect(try ledger.recoverOrphans(host: host).isEmpty)
        #expect(try ledger.claim(plan.runs[0].id, pid: me, host: host, retries: 0, rerun: false))
    }
}

@Suite struct QueryTests {
    @Test func prefixesResolveToOneRun() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 40)
        try ledger.register(plan)
        let id = plan.runs[7].id
        #expect(try ledger.resolve(prefix: id.rawValue) == id)
        #expect(try ledger.resolve(prefix: String(id.rawValue.prefix(10)).uppercased()) == id)
        // 40 ids over 16 first digits: some first digit is shared.
        let shared = Dictionary(grouping: plan.runs.map(\.id), by: { $0.rawValue.prefix(1) }).first { $0.value.count > 1 }!
        #expect(throws: LedgerError.ambiguousPrefix(String(shared.key), matches: shared.value.sorted())) {
            try ledger.resolve(prefix: String(shared.key))
        }
        #expect(throws: LedgerError.unknownRun("zz")) { try ledger.resolve(prefix: "zz") }
        #expect(throws: LedgerError.unknownRun("")) { try ledger.resolve(prefix: "") }
    }

    @Test func summariesAndCountsFollowTheSweep() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = makePlan(count: 4)
        try ledger.register(plan)
        try ledger.register(makePlan(name: "other", group: "other", count: 2))
        let ids = plan.runs.map(\.id)
        #expect(try ledger.claim(ids[0], pid: me, host: host, retries: 0, rerun: false))
        try ledger.finish(ids[0], status: .failed, exitCode: 2, stderrTail: "x", metrics: nil, reason: nil)
        try ledger.skip(ids[1], reason: "dependency failed")
        #expect(try ledger.counts(sweep: "grid") == [.failed: 1, .skipped: 1, .planned: 2])
        #expect(try ledger.counts() == [.failed: 1, .skipped: 1, .planned: 4])
        let summaries = try ledger.entries(.sweep("grid"))
        #expect(summaries.map(\.status) == [.failed, .skipped, .planned, .planned])
        #expect(summaries[0].exitCode == 2 && summaries[0].attempts == 1 && summaries[1].reason == "dependency failed")
        #expect(try ledger.entries().count == 6)
        #expect(try ledger.entries(.unlisted).isEmpty)
        let some = try ledger.entries([ids[0], ids[3], RunID(rawValue: "0123")])
        #expect(some.count == 2 && some[ids[0]]?.status == .failed && some[ids[0]]?.ownerPID == me && some[ids[3]]?.status == .planned)
        #expect(try ledger.entries(.sweep("nothing")).isEmpty)
    }
}
