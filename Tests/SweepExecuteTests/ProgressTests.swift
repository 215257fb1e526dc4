import Foundation
import RunContract
import SweepCore
import SweepLedger
@testable import SweepExecute
import Synchronization
import Testing

@Suite struct ProgressTests {
    func event(epoch: Int, step: Int, elapsed: Double, loss: Double = 1, epochs: Int = 10, steps: Int = 4) -> ProgressEvent {
        ProgressEvent(epoch: epoch, epochs: epochs, step: step, steps: steps, loss: loss, elapsed: elapsed)
    }

    @Test func trainingFractionAndETAFollowTheEnginesCounting() throws {
        // Mid-epoch: 2 epochs done and half of the third, 25 s in: 10 s per epoch, 75 s left.
        let mid = try #require(TrainingProgress(events: [event(epoch: 1, step: 4, elapsed: 10),
                                                         event(epoch: 2, step: 2, elapsed: 25)]))
        #expect(abs(mid.fraction - 0.25) < 1e-12)
        #expect(abs(mid.eta! - 75) < 1e-9)
        // End of an epoch: step == steps means the epoch is complete, not one more.
        let end = try #require(TrainingProgress(events: [event(epoch: 5, step: 4, elapsed: 50)]))
        #expect(end.fraction == 0.5 && end.eta == 50)
        #expect(TrainingProgress(events: []) == nil)
    }

    @Test func aResumedAttemptsPaceCountsFromItsCheckpoint() throws {
        // The first attempt got through 4 epochs; the second restarted the clock and did 2 more in 10 s.
        let events = [event(epoch: 4, step: 4, elapsed: 80), event(epoch: 4, step: 2, elapsed: 30),
                      event(epoch: 5, step: 4, elapsed: 5), event(epoch: 6, step: 4, elapsed: 10)]
        let progress = try #require(TrainingProgress(events: events))
        #expect(progress.epoch == 6 && progress.fraction == 0.6)
        #expect(abs(progress.eta! - 20) < 1e-9)
    }

    @Test func theModelTracksRunsTotalsAndTheirProgressFiles() throws {
        let space = try TemporaryWorkspace()
        let clock = ManualClock()
        let history = Mutex<[String: GroupTiming]>([:])
        let model = SweepProgress(workspace: space.workspace, pastTimings: { history.withLock { $0 } }, now: clock.read)
        let runs = (0..<4).map { run("r\($0)") }
        model.handle(.began(toRun: Array(runs[1...]), alreadyDone: 1, budget: ResourceBudget(slots: 2, threadsPerRun: 1, cores: 2)))
        model.handle(.started(runs[1], attempt: 1))
        // A workspace that has never finished a run of this group has no number to give.
        #expect(model.snapshot().eta == RemainingTime(seconds: 0, runs: 3, untimedRuns: 3))
        #expect(ProgressText.status(model.snapshot(), withRuns: false)
                == "1/4 done · 1 running · 2 waiting · ETA unknown (3 runs not timed yet: no past runs of their groups)")
        clock.advance(60)
        // The ledger records r1's 60 s before the scheduler reports it; the model reads it again then.
        history.withLock { $0 = ["grid": GroupTiming(group: "grid", runs: 1, meanTrainSeconds: 60, meanEpochSeconds: 6)] }
        model.handle(.finished(runs[1], status: .succeeded, detail: nil))
        model.handle(.started(runs[2], attempt: 1))
        model.handle(.started(runs[3], attempt: 1))
        clock.advance(10)

        let directory = space.workspace.runDirectory(runs[2].id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let line = try ContractJSON.encoder().encode(event(epoch: 5, step: 4, elapsed: 10, loss: 0.25))
        try (line + Data("\n".utf8)).write(to: directory.appendingPathComponent(RunFiles.progress))

        let snapshot = model.snapshot()
        #expect(snapshot.done == 2 && snapshot.remaining == 2 && snapshot.running.count == 2)
        let training = try #require(snapshot.running.first { $0.id == runs[2].id }?.training)
        #expect(training.epoch == 5 && training.loss == 0.25 && training.eta == 10)
        #expect(snapshot.running.first { $0.id == runs[3].id }?.training == nil)
        // r2 has 10 s left by its own pace, r3 50 s of the group's 60 s per run; two slots.
        #expect(snapshot.running.first { $0.id == runs[3].id }?.left == 50)
        #expect(snapshot.eta == RemainingTime(seconds: 50, runs: 2, untimedRuns: 0))
        #expect(ProgressText.status(snapshot, withRuns: false) == "2/4 done · 2 running · 0 waiting · ETA 50s")
    }

    /// One pretraining run that every other run needs, then eight short fine-tuning runs on two
    /// slots: while it trains, what is left is its own remainder plus the fine-tuning runs two at
    /// a time, not nine runs at the pretraining run's length.
    @Test func theOverallETAFollowsTheDependenciesAndEachGroupsHistory() throws {
        let space = try TemporaryWorkspace()
        let clock = ManualClock()
        let pretrain = run("pretrain", group: "pretrain", config: ["epochs": .int(30)])
        let finetune = (0..<8).map { run("ft\($0)", needs: ["pretrain": "pretrain"], config: ["epochs": .int(10)]) }
        func model(history: [String: GroupTiming]) throws -> SweepProgress {
            let model = SweepProgress(workspace: space.workspace, pastTimings: { history }, now: clock.read)
            model.handle(.began(toRun: [pretrain] + finetune, alreadyDone: 0,
                                budget: ResourceBudget(slots: 2, threadsPerRun: 1, cores: 2)))
            model.handle(.started(pretrain, attempt: 1))
            return model
        }
        let history = ["pretrain": GroupTiming(group: "pretrain", runs: 1, meanTrainSeconds: 600, meanEpochSeconds: 20),
                       "grid": GroupTiming(group: "grid", runs: 4, meanTrainSeconds: 30, meanEpochSeconds: 3)]

        // Before its first epoch the pretraining run is expected to take its group's 30 x 20 s.
        let fresh = try model(history: history)
        #expect(fresh.snapshot().eta == RemainingTime(seconds: 600 + 4 * 30, runs: 9, untimedRuns: 0))

        // Halfway, by its own pace (15 of 30 epochs in 300 s): 300 s left, then 4 x 30 s.
        let directory = space.workspace.runDirectory(pretrain.id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let line = try ContractJSON.encoder().encode(event(epoch: 15, step: 4, elapsed: 300, epochs: 30))
        try (line + Data("\n".utf8)).write(to: directory.appendingPathComponent(RunFiles.progress))
        let halfway = try model(history: history).snapshot()
        #expect(halfway.eta == RemainingTime(seconds: 420, runs: 9, untimedRuns: 0))
        #expect(ProgressText.status(halfway, withRuns: false) == "0/9 done · 1 running · 8 waiting · ETA 7m00s")

        // A group with no past run is named as untimed; the rest is a lower bound.
        let partial = try model(history: ["pretrain": history["pretrain"]!]).snapshot()
        #expect(partial.eta == RemainingTime(seconds: 300, runs: 9, untimedRuns: 8))
        #expect(ProgressText.etaText(partial.eta!) == "ETA ≥ 5m00s (+8 runs not timed yet)")
        // Once stopping, the runs not started never will: only the pretraining run is left.
        let stopping = try model(history: history)
        stopping.handle(.stopping(.requested("stopped by a test")))
        #expect(stopping.snapshot().eta == RemainingTime(seconds: 300, runs: 1, untimedRuns: 0))
        // A timed run about to end leaves 0 s known: still a lower bound, not "unknown".
        #expect(ProgressText.etaText(RemainingTime(seconds: 0, runs: 9, untimedRuns: 8)) == "ETA ≥ 0s (+8 runs not timed yet)")
    }

    @Test func theSimulationBackfillsSlotsInPlanOrder() {
        let blocked = run("blocked", needs: ["p": "p"])
        let free = run("free")
        let later = run("later")
        let runsLeft = [run("p"), blocked, free, later]
        let expected: [RunID: Double] = [id("blocked"): 10, id("free"): 50]
        // p runs (100 s left) in one slot; `free` takes the other at once, then the untimed
        // `later` at 50 s; `blocked` waits for p and ends at 110 s.
        let remaining = RemainingTime.simulate(runsLeft: runsLeft, running: [id("p"): 100], slots: 2) { expected[$0.id] }
        #expect(remaining == RemainingTime(seconds: 110, runs: 4, untimedRuns: 1))
        // One slot: everything in a row, in plan order.
        #expect(RemainingTime.simulate(runsLeft: runsLeft, running: [id("p"): 100], slots: 1) { expected[$0.id] }.seconds == 160)
    }

    @Test func aPlainLogPrintsStatusOnNewsAndOtherwiseOnceAMinute() throws {
        let space = try TemporaryWorkspace()
        let output = Captured()
        let clock = ManualClock()
        let renderer = ProgressRenderer(model: SweepProgress(workspace: space.workspace, now: clock.read), style: .plain,
                                        write: output.append)
        let lora = run("lora")
        renderer.handle(.began(toRun: [lora], alreadyDone: 0, budget: ResourceBudget(slots: 1, threadsPerRun: 2, cores: 2)))
        renderer.handle(.started(lora, attempt: 1))
        func ticks(_ seconds: Int) -> [String] {
            let before = output.writes.count
            for _ in 0..<seconds { clock.advance(1); renderer.tick() }
            return Array(output.writes[before...])
        }
        // The start is news: one status line, then nothing while the run stays in its first epoch.
        #expect(ticks(1) == ["0/1 done · 1 running · 0 waiting · ETA unknown (1 run not timed yet: no past runs of their groups)"
                             + " | grid/lora  starting, 1s\n"])
        #expect(ticks(30).isEmpty)
        // A new epoch is news.
        let directory = space.workspace.runDirectory(lora.id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let line = try ContractJSON.encoder().encode(event(epoch: 1, step: 4, elapsed: 30, loss: 0.5))
        try (line + Data("\n".utf8)).write(to: directory.appendingPathComponent(RunFiles.progress))
        #expect(ticks(1) == ["0/1 done · 1 running · 0 waiting · ETA 4m30s | grid/lora  epoch 2/10  loss 0.5000  ETA 4m30s\n"])
        // A quiet run gets one line a minute, not one per tick.
        #expect(ticks(59).isEmpty)
        #expect(ticks(1).count == 1)
        #expect(ticks(60).count == 1)
        // Once nothing runs, the finish line says it all.
        renderer.handle(.finished(lora, status: .succeeded, detail: nil))
        #expect(output.writes.last!.hasPrefix("done     grid/lora [run-lora] in"))
        #expect(ticks(120).isEmpty)
    }

    @Test func runsAreTitledByGroupLabelGridValuesAndSeed() {
        #expect(SweepProgress.title(of: PlannedRun(id: id("p"), group: "pretrain", seed: 0, config: .null)) == "pretrain")
        #expect(SweepProgress.title(of: PlannedRun(id: id("m"), group: "grid", label: "MTLoRA", seed: 2, config: .null))
                == "grid/MTLoRA (seed 2)")
        let unlabelled = PlannedRun(id: id("g"), group: "grid", seed: 1, config: .null,
                                    axes: ["r_init": .int(32), "adapter": .string("dora")])
        #expect(SweepProgress.title(of: unlabelled) == "grid/adapter=dora r_init=32 (seed 1)")
        // A row crossed with a grid axis: the label alone would name two runs alike.
        let row = PlannedRun(id: id("d"), group: "decoders", label: "MTLoRA", seed: 0, config: .null,
                             axes: ["decoder": .string("segformer")])
        #expect(SweepProgress.title(of: row) == "decoders/MTLoRA decoder=segformer")
    }

    @Test func durationsReadTheWayPeopleWriteThem() {
        #expect(ProgressText.duration(42.4) == "42s")
        #expect(ProgressText.duration(185) == "3m05s")
        #expect(ProgressText.duration(7380) == "2h03m")
        #expect(ProgressText.duration(.infinity) == "?")
    }

    @Test func aPlainLogGetsALinePerStartAndFinish() {
        let output = Captured()
        let clock = ManualClock()
        let renderer = ProgressRenderer(model: SweepProgress(workspace: nil, now: clock.read), style: .plain,
                                        write: output.append)
        let lora = run("lora")
        renderer.handle(.began(toRun: [lora, run("dora")], alreadyDone: 0, budget: ResourceBudget(slots: 1, threadsPerRun: 2, cores: 2)))
        renderer.handle(.started(lora, attempt: 1))
        clock.advance(95)
        renderer.handle(.finished(lora, status: .failed, detail: "exit code 3"))
        renderer.handle(.skipped(run("dora"), reason: "needs `lora` (run run-lora), which failed: exit code 3"))
        renderer.finish()
        #expect(output.text == """
            sweep: 2 runs, 0 already done, 2 to run (1 slot x 2 threads on 2 cores)
            start    grid/lora [run-lora]
            FAILED   grid/lora [run-lora] in 1m35s: exit code 3
            skipped  grid/dora [run-dora]: needs `lora` (run run-lora), which failed: exit code 3
            sweep: 0 succeeded, 0 already done, 1 failed, 1 skipped

            """)
        #expect(!output.text.contains("\u{1B}"))
    }

    @Test func aTerminalIsRedrawnInPlace() {
        let output = Captured()
        let renderer = ProgressRenderer(model: SweepProgress(workspace: nil), style: .live, width: { 40 },
                                        write: output.append)
        let long = run("a-label-much-longer-than-the-forty-columns-of-this-terminal")
        renderer.handle(.began(toRun: [long], alreadyDone: 0, budget: ResourceBudget(slots: 1, threadsPerRun: 2, cores: 2)))
        renderer.handle(.started(long, attempt: 1))
        renderer.tick()
        let frames = output.writes
        // began prints its line and a one-line block; the start adds the run's line; the tick redraws both.
        #expect(frames.count == 3)
        #expect(frames[2].hasPrefix("\u{1B}[2A\r\u{1B}[J"))
        #expect(frames[2].split(separator: "\n").allSatisfy { $0.count <= 39 + 12 })
        #expect(!frames[1].contains("start "))
        renderer.finish()
        #expect(output.writes.last!.hasPrefix("\u{1B}[2A\r\u{1B}[J"))
    }
}

final class ManualClock: Sendable {
    private let time = Mutex(Date(timeIntervalSince1970: 1_000_000))
    func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
    var read: @Sendable () -> Date { { self.time.withLock { $0 } } }
}

final class Captured: Sendable {
    private let store = Mutex<[String]>([])
    var append: @Sendable (String) -> Void { { text in self.store.withLock { $0.append(text) } } }
    var writes: [String] { store.withLock { $0 } }
    var text: String { writes.joined() }
}
