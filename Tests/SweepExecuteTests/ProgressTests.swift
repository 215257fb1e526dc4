import Foundation
import RunContract
import SweepCore
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
        let model = SweepProgress(workspace: space.workspace, now: clock.read)
        let runs = (0..<4).map { run("r\($0)") }
        model.handle(.began(runs: 4, alreadyDone: 1, budget: ResourceBudget(slots: 2, threadsPerRun: 1, cores: 2)))
        model.handle(.started(runs[1], attempt: 1))
        clock.advance(60)
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
        // r2 has 10 s left by its own pace, r3 50 s at the measured 60 s per run; two slots.
        #expect(snapshot.eta == 50)
        #expect(ProgressText.status(snapshot, withRuns: false) == "2/4 done · 2 running · 0 waiting · ETA 50s")
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
        renderer.handle(.began(runs: 2, alreadyDone: 0, budget: ResourceBudget(slots: 1, threadsPerRun: 2, cores: 2)))
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
        renderer.handle(.began(runs: 1, alreadyDone: 0, budget: ResourceBudget(slots: 1, threadsPerRun: 2, cores: 2)))
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
