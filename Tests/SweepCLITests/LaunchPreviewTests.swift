import Foundation
import SweepCore
import SweepExecute
import SweepLedger
import Testing
@testable import SweepCLI

@Suite struct LaunchPreviewTests {
    @Test func followsTheLedgerAndTheRetryBudget() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = pretrainAndGrid()
        try ledger.register(plan)
        try ledger.settle(plan.runs[0].id, .succeeded)
        try ledger.settle(plan.runs[1].id, .failed, exitCode: 3)
        try ledger.settle(plan.runs[1].id, .failed, exitCode: 3)
        try ledger.settle(plan.runs[2].id, .interrupted)
        try ledger.settle(plan.runs[3].id, .running)
        let preview = try LaunchPreview(plan: plan, ledger: ledger, options: RunOptions(slots: 2, threadsPerRun: 1, cores: 2))
        #expect(preview.actions.map(\.action) == [.alreadyDone, .budgetSpent, .resume, .runningElsewhere, .launch])
        #expect(preview.budget == ResourceBudget(slots: 2, threadsPerRun: 1, cores: 2))
        let retrying = try LaunchPreview(plan: plan, ledger: ledger, options: RunOptions(cores: 2, retryFailed: true))
        #expect(retrying.actions[1].action == .retry)
        let text = preview.text()
        #expect(text.contains("would launch 2 of 5 runs"))
        #expect(!text.contains(plan.runs[0].id.rawValue))
    }

    @Test func dependentsOfAFailedRunWouldBeSkipped() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = pretrainAndGrid()
        try ledger.register(plan)
        for _ in 0 ..< 2 { try ledger.settle(plan.runs[0].id, .failed, exitCode: 1) }
        let preview = try LaunchPreview(plan: plan, ledger: ledger, options: RunOptions(cores: 2, retries: 1))
        #expect(preview.actions[0].action == .budgetSpent)
        for (_, action) in preview.actions.dropFirst() {
            guard case .skip(let why) = action else { Issue.record("expected a skip, got \(action)"); continue }
            #expect(why.contains("needs `pretrain`"))
        }
        // The grid waits for the pretraining run it needs: it launches after it, not at once.
        for preview in [try LaunchPreview(plan: plan, ledger: nil, options: RunOptions(cores: 2)),
                        try LaunchPreview(plan: plan, ledger: ledger, options: RunOptions(cores: 2, rerun: true))] {
            #expect(preview.actions[0].action == .launch)
            #expect(preview.actions.dropFirst().allSatisfy { $0.action.waits && $0.action.launches })
            #expect(preview.text().contains("would launch 5 of 5 runs: 1 at once, 4 once the runs they need have succeeded\n"),
                    "\(preview.text())")
            #expect(preview.text().contains("launch after `pretrain` (run \(plan.runs[0].id.rawValue.prefix(8))) succeeds"))
        }
    }
}
