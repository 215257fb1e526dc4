@testable import SweepExecute
import Testing

@Suite struct ResourceBudgetTests {
    @Test func aWideGridRunsOneSingleThreadedRunPerCore() {
        #expect(ResourceBudget(slots: nil, threadsPerRun: nil, cores: 8, runs: 100)
                == ResourceBudget(slots: 8, threadsPerRun: 1, cores: 8))
    }

    @Test func aNarrowGridSharesTheCoresAmongItsRuns() {
        #expect(ResourceBudget(slots: nil, threadsPerRun: nil, cores: 8, runs: 3)
                == ResourceBudget(slots: 3, threadsPerRun: 2, cores: 8))
        #expect(ResourceBudget(slots: nil, threadsPerRun: nil, cores: 8, runs: 1)
                == ResourceBudget(slots: 1, threadsPerRun: 8, cores: 8))
        #expect(ResourceBudget(slots: nil, threadsPerRun: nil, cores: 8, runs: 0).slots == 1)
    }

    @Test func whatTheUserGivesIsKeptAndTheRestFitsTheCores() {
        #expect(ResourceBudget(slots: 3, threadsPerRun: nil, cores: 8, runs: 10)
                == ResourceBudget(slots: 3, threadsPerRun: 2, cores: 8))
        #expect(ResourceBudget(slots: nil, threadsPerRun: 3, cores: 8, runs: 10)
                == ResourceBudget(slots: 2, threadsPerRun: 3, cores: 8))
        #expect(ResourceBudget(slots: nil, threadsPerRun: 16, cores: 8, runs: 10).slots == 1)
        let asked = ResourceBudget(slots: 4, threadsPerRun: 4, cores: 8, runs: 10)
        #expect(asked == ResourceBudget(slots: 4, threadsPerRun: 4, cores: 8) && asked.isOversubscribed)
        #expect(!ResourceBudget(slots: 2, threadsPerRun: nil, cores: 8, runs: 10).isOversubscribed)
    }

    @Test func itReadsAsOneLine() {
        #expect("\(ResourceBudget(slots: 1, threadsPerRun: 2, cores: 2))" == "1 slot x 2 threads on 2 cores")
    }
}
