import Foundation
import SweepCore
import SweepExecute
import Testing
@testable import SweepCLI

@Suite struct RunCommandTests {
    @Test func theClosingLinesSayHowToContinue() {
        let plan = pretrainAndGrid()
        var summary = RunSummary(budget: ResourceBudget(slots: 1, threadsPerRun: 1, cores: 1))
        summary.succeeded = [plan.runs[0].id]
        summary.failed = [plan.runs[1].id]
        summary.interrupted = [plan.runs[2].id]
        summary.stoppedBy = .signal(SIGINT)
        let text = RunCommand.closingText(summary, plan: plan)
        #expect(text.contains("stopped by SIGINT\n"))
        #expect(text.contains("sweep \"ablation\": 1 succeeded, 1 failed, 1 interrupted\n"))
        #expect(text.contains("failed: \(plan.runs[1].id)  (sweep show \(plan.runs[1].id.rawValue.prefix(8)))"))
        #expect(text.hasSuffix("run the same command again to resume\n"))
    }
}
