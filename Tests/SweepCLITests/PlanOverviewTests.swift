import Foundation
import RunContract
import SweepCore
import SweepLedger
import Testing
@testable import SweepCLI

@Suite struct PlanOverviewTests {
    @Test func countsAxesStatesAndDependencies() {
        let plan = pretrainAndGrid()
        let overview = PlanOverview(plan: plan, statuses: [plan.runs[1].id: .succeeded, plan.runs[2].id: .failed],
                                    timings: [:])
        #expect(overview.states == [.new, .succeeded, .failed, .new, .new])
        #expect(overview.axes == [
            PlanOverview.AxisCount(axis: "lr", values: [("0.1", 2), ("0.01", 2)]),
            PlanOverview.AxisCount(axis: "method", values: [("lora", 2), ("mtlora", 2)]),
            PlanOverview.AxisCount(axis: "row", values: [("LORA", 2), ("MTLORA", 2)]),
            PlanOverview.AxisCount(axis: "seed", values: [("0", 5)]),
        ])
        #expect(overview.groups == [
            PlanOverview.GroupDependency(group: "pretrain", runs: 1, needs: []),
            PlanOverview.GroupDependency(group: "grid", runs: 4, needs: ["pretrain"]),
        ])
        #expect(overview.estimate == nil)
        let text = overview.text(manifest: "m.yaml", listLimit: nil)
        #expect(text.contains("m.yaml: sweep \"ablation\", 5 runs"))
        #expect(text.contains("states: 3 new · 1 succeeded · 1 failed"))
        #expect(text.contains("estimate: none yet: no run has finished in this workspace"))
        #expect(text.contains("needs pretrain"))
        #expect(text.contains("pretrain=\(plan.runs[0].id.rawValue.prefix(8))"))
    }

    @Test func estimatesFromTheGroupsPastEpochTimes() {
        let plan = pretrainAndGrid()
        let timing = GroupTiming(group: "grid", runs: 2, meanTrainSeconds: 100, meanEpochSeconds: 20)
        let overview = PlanOverview(plan: plan, statuses: [plan.runs[1].id: .succeeded], timings: ["grid": timing], cores: 2)
        // 3 epochs x 20 s for each grid run; pretraining has no finished run to judge from.
        #expect(overview.runSeconds == [nil, 60, 60, 60, 60])
        // Three 60 s runs on two slots take two rounds.
        #expect(overview.estimate == PlanOverview.Estimate(seconds: 180, wallSeconds: 120, slots: 2, runsEstimated: 3,
                                                           runsToDo: 4, timedRuns: 2))
        let text = overview.text(manifest: "m.yaml", listLimit: 0)
        #expect(text.contains("estimate: 3m00s of run time for 3 of the 4 runs to do (from 2 finished runs), "
                              + "about 2m00s on 2 slots; groups with no finished run are not counted"))
        #expect(!text.contains("RUN "))
    }

    @Test func theSlotEstimateWaitsForDependencies() {
        let plan = pretrainAndGrid()
        // Pretraining takes 3 epochs x 25 s of training, twice that in wall time, and the four
        // grid runs 60 s each, two at a time after it.
        let timings = ["pretrain": GroupTiming(group: "pretrain", runs: 1, meanTrainSeconds: 75, meanEpochSeconds: 25,
                                               wallPerTrainingSecond: 2),
                       "grid": GroupTiming(group: "grid", runs: 2, meanTrainSeconds: 60, meanEpochSeconds: 20)]
        let overview = PlanOverview(plan: plan, statuses: [:], timings: timings, cores: 2)
        #expect(overview.runSeconds == [150, 60, 60, 60, 60])
        #expect(overview.estimate?.seconds == 390)
        #expect(overview.estimate?.wallSeconds == 270)
        #expect(PlanOverview(plan: plan, statuses: [:], timings: timings, cores: 1).estimate?.wallSeconds == 390)
    }

    @Test func listsAtMostTheLimit() {
        let plan = pretrainAndGrid()
        let text = PlanOverview(plan: plan, statuses: [:], timings: [:]).text(manifest: "m.yaml", listLimit: 2)
        #expect(text.contains(plan.runs[1].id.rawValue))
        #expect(!text.contains(plan.runs[2].id.rawValue))
        #expect(text.contains("... 3 more runs (--all lists every run"))
    }

    @Test func jsonCarriesEveryRunWithItsConfig() throws {
        let plan = pretrainAndGrid()
        let json = try PlanOverview(plan: plan, statuses: [:], timings: [:]).json(manifest: "m.yaml")
        let document = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        let runs = try #require(document["runs"]?.arrayValue)
        #expect(runs.count == 5)
        #expect(runs[1]["config"] == plan.runs[1].config)
        #expect(runs[1]["needs"]?["pretrain"]?.stringValue == plan.runs[0].id.rawValue)
        #expect(runs[1]["state"]?.stringValue == "new")
        #expect(document["states"]?["new"]?.intValue == 5)
        #expect(document["groups"]?.arrayValue?.last?["needs"] == .array([.string("pretrain")]))
    }

    @Test func readsTheLedgerOfTheWorkspace() throws {
        let temporary = TemporaryWorkspace()
        let ledger = try Ledger(workspace: temporary.workspace)
        let plan = pretrainAndGrid()
        try ledger.register(plan)
        try ledger.settle(plan.runs[0].id, .succeeded, metrics: metrics(epochSeconds: [4, 5, 6]))
        try ledger.settle(plan.runs[1].id, .succeeded, metrics: metrics(epochSeconds: [10, 10, 10]))
        try ledger.settle(plan.runs[2].id, .interrupted)
        let overview = try PlanOverview(plan: plan, ledger: ledger)
        #expect(overview.states == [.succeeded, .succeeded, .interrupted, .new, .new])
        #expect(overview.runSeconds == [15, 30, 30, 30, 30])
        #expect(overview.estimate?.seconds == 90)
    }
}

