import Foundation
import RunContract
import SweepCore
import SweepExecute
import Synchronization
import Testing
@testable import SweepCLI

@Suite struct ProgressEstimateTests {
    func event(_ epoch: Int, _ step: Int, elapsed: Double) -> ProgressEvent {
        ProgressEvent(epoch: epoch, epochs: 4, step: step, steps: 10, loss: 1, elapsed: elapsed)
    }

    @Test func fractionsReadEpochsAndSteps() {
        // Mid-epoch: epoch 1 in progress with 5 of 10 steps; end of epoch: 2 epochs closed.
        #expect(ProgressEstimate.fraction(event(1, 5, elapsed: 0)) == 1.5 / 4)
        #expect(ProgressEstimate.fraction(event(2, 10, elapsed: 0)) == 0.5)
        #expect(ProgressEstimate.fraction(event(4, 10, elapsed: 0)) == 1)
    }

    @Test func remainingTimeFollowsThisAttemptsRate() {
        // 1 epoch (a quarter) in 10 s: 3 more epochs need 30 s.
        #expect(ProgressEstimate(events: [event(1, 10, elapsed: 10)]).remainingSeconds == 30)
        // A resumed attempt (elapsed restarted): its own rate, 1 epoch per 20 s, 1 epoch left.
        let resumed = [event(1, 10, elapsed: 10), event(2, 10, elapsed: 20), event(2, 10, elapsed: 1), event(3, 10, elapsed: 21)]
        #expect(ProgressEstimate(events: resumed).remainingSeconds == 20)
        // One event of a resumed attempt tells nothing about its rate.
        #expect(ProgressEstimate(events: [event(2, 10, elapsed: 20), event(3, 10, elapsed: 5)]).remainingSeconds == nil)
        #expect(ProgressEstimate(events: []).remainingSeconds == nil)
    }
}

@Suite struct RunProgressTests {
    final class Lines: Sendable {
        let text = Mutex("")
        func append(_ string: String) { text.withLock { $0 += string } }
    }

    @Test func plainOutputHasOneLinePerEvent() {
        let lines = Lines()
        let progress = RunProgress(workspace: Workspace(root: URL(fileURLWithPath: "/w")), live: false) { lines.append($0) }
        let plan = pretrainAndGrid()
        let (pretrain, grid) = (plan.runs[0], plan.runs[1])
        progress.handle(.began(runs: 5, alreadyDone: 1, budget: ResourceBudget(slots: 2, threadsPerRun: 1, cores: 2)))
        progress.handle(.started(pretrain, attempt: 1))
        progress.handle(.finished(pretrain, status: .failed, detail: "exit code 3"))
        progress.handle(.skipped(grid, reason: "needs `pretrain`"))
        progress.handle(.stopping(.signal(SIGINT)))
        let text = lines.text.withLock { $0 }.split(separator: "\n").map(String.init)
        #expect(text.count == 5)
        #expect(text[0] == "5 runs, 1 already done; 2 slots x 1 thread on 2 cores")
        #expect(text[1] == "[1/5] started  \(pretrain.id.rawValue.prefix(8)) pretrain seed 0")
        #expect(text[2].hasPrefix("[2/5] failed   \(pretrain.id.rawValue.prefix(8)) pretrain seed 0 after "))
        #expect(text[2].hasSuffix(": exit code 3"))
        #expect(text[3] == "[3/5] skipped  \(grid.id.rawValue.prefix(8)) grid LORA seed 0: needs `pretrain`")
        #expect(text[4] == "stopping: stopped by SIGINT")
    }

    @Test func theLiveBoardShowsRunningRunsFromTheirProgressFiles() throws {
        let temporary = TemporaryWorkspace()
        let plan = pretrainAndGrid()
        let run = plan.runs[0]
        let directory = temporary.workspace.runDirectory(run.id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let event = ProgressEvent(epoch: 1, epochs: 4, step: 10, steps: 10, loss: 0.5, elapsed: 10)
        try ContractJSON.encoder().encode(event).write(to: directory.appendingPathComponent(RunFiles.progress))
        let lines = Lines()
        let progress = RunProgress(workspace: temporary.workspace, live: true) { lines.append($0) }
        progress.handle(.began(runs: 2, alreadyDone: 0, budget: ResourceBudget(slots: 1, threadsPerRun: 2, cores: 2)))
        progress.handle(.started(run, attempt: 1))
        progress.finish()
        let text = lines.text.withLock { $0 }
        #expect(text.contains("  ▸ \(run.id.rawValue.prefix(8)) pretrain seed 0  epoch 1/4  step 10/10  loss 0.5  ETA 30 s\n"))
        #expect(text.contains("  0/2 done · 1 running · 1 waiting\n"))
        // Each redraw first moves up over the previous board and clears it.
        #expect(text.contains("\u{1B}[2F\u{1B}[J"))
    }

    @Test func theClosingLinesSayHowToContinue() {
        let plan = pretrainAndGrid()
        var summary = RunSummary(budget: ResourceBudget(slots: 1, threadsPerRun: 1, cores: 1))
        summary.succeeded = [plan.runs[0].id]
        summary.failed = [plan.runs[1].id]
        summary.interrupted = [plan.runs[2].id]
        summary.stoppedBy = .signal(SIGINT)
        let text = RunProgress.closingText(summary, plan: plan)
        #expect(text.contains("stopped by SIGINT\n"))
        #expect(text.contains("sweep \"ablation\": 1 succeeded, 1 failed, 1 interrupted\n"))
        #expect(text.contains("failed: \(plan.runs[1].id)  (sweep show \(plan.runs[1].id.rawValue.prefix(8)))"))
        #expect(text.hasSuffix("run the same command again to resume\n"))
    }
}
