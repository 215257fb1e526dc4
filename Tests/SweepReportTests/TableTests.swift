import Foundation
import RunContract
import SweepCore
import Testing
@testable import SweepReport

@Suite struct DeltaMTests {
    @Test func signsFollowDirection() {
        // semseg 10 % above its reference, normals 10 % below (better): +10; both 5 % worse: -5.
        let better = ["semseg": Fixture.task(66, .higher), "normals": Fixture.task(18, .lower)]
        let worse = ["semseg": Fixture.task(57, .higher), "normals": Fixture.task(21, .lower)]
        let reference = ["semseg": 60.0, "normals": 20.0]
        #expect(abs(DeltaM.percent(better, reference: reference)! - 10) < 1e-12)
        #expect(abs(DeltaM.percent(worse, reference: reference)! - -5) < 1e-12)
    }

    @Test func thePapersAblationRowFromTheirReference() {
        // FAAR Table 3, "FAAR (1+2)": 72.02 / 61.25 / 66.11 / 16.35 against the single-task
        // references 67.21 / 61.93 / 62.35 / 17.97 gives the published +5.28. (Its "MTLoRA (high)"
        // row gives +2.54 from the printed metrics where the paper prints +2.55: rounded inputs.)
        let tasks = ["semseg": Fixture.task(72.02, .higher), "human_parts": Fixture.task(61.25, .higher),
                     "saliency": Fixture.task(66.11, .higher), "normals": Fixture.task(16.35, .lower)]
        let reference = ["semseg": 67.21, "human_parts": 61.93, "saliency": 62.35, "normals": 17.97]
        let value = DeltaM.percent(tasks, reference: reference)!
        #expect(NumberFormat.fixed(value, precision: 2, signed: true) == "+5.28")
    }

    @Test func undefinedWithoutAReferenceForEveryTask() {
        let tasks = ["semseg": Fixture.task(66, .higher), "depth": Fixture.task(0.5, .lower)]
        #expect(DeltaM.percent(tasks, reference: ["semseg": 60]) == nil)
        #expect(DeltaM.percent(tasks, reference: ["semseg": 60, "depth": 0]) == nil)
        #expect(DeltaM.percent([:], reference: ["semseg": 60]) == nil)
    }

    @Test func referenceIsTheMeanOfTheRunsThatReportATask() {
        let runs = [Fixture.metrics(["semseg": Fixture.task(60, .higher)]),
                    Fixture.metrics(["semseg": Fixture.task(62, .higher)]),
                    Fixture.metrics(["normals": Fixture.task(20, .lower)])]
        #expect(DeltaM.reference(from: runs) == ["semseg": 61, "normals": 20])
    }
}

@Suite struct SummaryTests {
    @Test func meanAndSampleStandardDeviation() {
        let summary = Summary([2, 4, 4, 4, 5, 5, 7, 9])!
        #expect(summary.mean == 5)
        #expect(summary.n == 8)
        // Sum of squares 32 over n - 1 = 7.
        #expect(abs(summary.std! - (32.0 / 7).squareRoot()) < 1e-12)
    }

    @Test func oneValueHasNoSpreadAndNoValuesNoSummary() {
        #expect(Summary([3.5]) == Summary(mean: 3.5, std: nil, n: 1))
        #expect(Summary([]) == nil)
    }
}

@Suite struct NumberFormatTests {
    @Test func fixedPrecisionSignsAndNoNegativeZero() {
        #expect(NumberFormat.fixed(41.2345, precision: 2) == "41.23")
        #expect(NumberFormat.fixed(2.5, precision: 2, signed: true) == "+2.50")
        #expect(NumberFormat.fixed(-2.5, precision: 1, signed: true) == "-2.5")
        #expect(NumberFormat.fixed(-0.001, precision: 2, signed: true) == "0.00")
        #expect(NumberFormat.fixed(0.004, precision: 2, signed: true) == "0.00")
        #expect(NumberFormat.fixed(12.6, precision: 0) == "13")
    }
}

@Suite struct TableTests {
    let table: Table

    init() throws {
        table = try Table(spec: Fixture.table(), plan: Fixture.demoPlan, records: Fixture.records)
    }

    func cell(_ row: String, _ key: String) -> Table.Cell {
        let column = table.columns.firstIndex { $0.key == key }!
        return table.rows.first { $0.label == row }!.cells[column]
    }

    @Test func taskValuesAreMeansOverSeeds() {
        let semseg = cell("MTLoRA (r=64)", "semseg").measured!
        #expect(abs(semseg.mean - (67.1 + 59.78) / 2) < 1e-9)
        #expect(semseg.n == 2)
        // Single-task row: one value per seed from the run that reports the task.
        #expect(cell("Single Task", "semseg").measured!.mean == 61)
        #expect(cell("Single Task", "normals").measured!.mean == 19)
    }

    @Test func deltaMIsPerSeedThenMeanAndStd() {
        // Seed 0: +10 %, seed 1: -3 % (see Fixture), so 3.5 ± sqrt(84.5).
        let delta = cell("MTLoRA (r=64)", "delta_m").measured!
        #expect(abs(delta.mean - 3.5) < 1e-9)
        #expect(abs(delta.std! - 84.5.squareRoot()) < 1e-9)
        #expect(delta.n == 2)
    }

    @Test func referenceRowCombinesItsSingleTaskRunsPerSeed() {
        // Seed 0 is 1/61 and 1/19 worse than the mean, seed 1 as much better: mean 0, and the
        // spread is the seed noise of Δm itself.
        let delta = cell("Single Task", "delta_m").measured!
        let seedZero = -100 * (1.0 / 61 + 1.0 / 19) / 2
        #expect(abs(delta.mean) < 1e-12)
        #expect(abs(delta.std! - (2 * seedZero * seedZero).squareRoot()) < 1e-9)
        // Costs of single-task rows are the sum of their models.
        #expect(cell("Single Task", "params.trainable").measured == Summary(mean: 3, std: 0, n: 2))
    }

    @Test func failedRunsLeaveFewerSeeds() {
        let faar = table.rows.first { $0.label == "FAAR_1+2" }!
        #expect(faar.plannedRuns == 2 && faar.succeededRuns == 1)
        let delta = cell("FAAR_1+2", "delta_m").measured!
        #expect(abs(delta.mean - 5) < 1e-9 && delta.n == 1 && delta.std == nil)
        #expect(table.typicalN == 2)
        #expect(table.plannedRuns == 8 && table.succeededRuns == 7)
        #expect(table.engineVersions == ["0.1.0", "0.1.1"])
    }

    @Test func aRowWithoutFinishedRunsHasMissingCells() throws {
        var records = Fixture.records
        records[Fixture.id("mt-0")]!.status = .running
        records[Fixture.id("mt-1")] = nil
        let table = try Table(spec: Fixture.table(), plan: Fixture.demoPlan, records: records)
        #expect(table.rows[1].cells.allSatisfy { $0.measured == nil && !$0.isBest })
    }

    @Test func incompleteSeedsGiveTaskValuesButNoDeltaMOrCost() throws {
        var records = Fixture.records
        records[Fixture.id("st-nor-1")]!.status = .failed
        let table = try Table(spec: Fixture.table(), plan: Fixture.demoPlan, records: records)
        let single = table.rows[0]
        #expect(single.cells[0].measured?.n == 2)   // semseg from both seeds
        #expect(single.cells[1].measured?.n == 1)   // normals from seed 0 only
        #expect(single.cells[2].measured?.n == 1)   // Δm and params need the whole seed
        #expect(single.cells[3].measured?.n == 1)
    }

    @Test func paperOnlyRowsHaveOnlyThePapersNumbers() {
        let ditask = table.rows.first { $0.label == "DiTASK" }!
        #expect(ditask.paperOnly)
        #expect(ditask.cells.allSatisfy { $0.measured == nil && !$0.isBest })
        #expect(ditask.cells.map(\.paper) == [69.5, nil, 3.1, nil])
        #expect(table.columns.map(\.hasPaper) == [true, true, true, false])
    }

    @Test func directionsComeFromTheRunsOrTheKey() {
        #expect(table.columns.map(\.direction) == [.higher, .lower, .higher, nil])
        var spec = Fixture.table()
        spec.columns[3].direction = .lower
        spec.columns[0].direction = .lower
        let overridden = try! Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records)
        #expect(overridden.columns.map(\.direction) == [.lower, .lower, .higher, .lower])
    }

    /// The Trivial row is one value: beyond noise from a 3-seed row when outside that row's 95 %
    /// prediction interval (mean ± t(0.975, 2) s sqrt(4/3) = ± 4.97 s), within it otherwise.
    @Test func oneValueAgainstSeveralSeedsUsesThePredictionInterval() {
        let row = Summary(mean: 15.34, std: 0.13, n: 3)
        #expect(Table.beyondNoise(Summary(mean: 2.31, std: nil, n: 1), row))
        #expect(Table.beyondNoise(row, Summary(mean: 14.60, std: nil, n: 1)))    // 5.7 s away
        #expect(!Table.beyondNoise(row, Summary(mean: 14.80, std: nil, n: 1)))   // 4.2 s away
        #expect(!Table.beyondNoise(Summary(mean: 1, std: nil, n: 1), Summary(mean: 9, std: 1, n: 2)))  // too few seeds
    }

    @Test func withTwoSeedsTheBestIsTiedWithEveryRow() {
        // Two seeds (FAAR one) cannot put anything beyond noise: every measured value is bold
        // and every column with a direction is named within noise; the reference's Δm still does not compete.
        #expect(table.rows.map { $0.cells[0].isBest } == [true, true, true, false])
        #expect(table.rows.map { $0.cells[1].isBest } == [true, true, true, false])
        #expect(table.rows.map { $0.cells[2].isBest } == [false, true, true, false])
        // Parameters have no direction unless the manifest gives one.
        #expect(table.rows.allSatisfy { !$0.cells[3].isBest })
        #expect(table.columns.map(\.withinNoise) == [true, true, true, false])
    }

    /// A one-column table whose rows have these values, one per seed 0, 1, 2, ...
    static func seeded(_ values: KeyValuePairs<String, [Double]>, direction: Direction = .higher,
                       precision: Int = 2) throws -> Table {
        var records: [RunID: RunRecord] = [:]
        var seeds: [String: Int] = [:]
        for (row, samples) in values {
            for (seed, value) in samples.enumerated() {
                let id = Fixture.id("\(row)-\(seed)")
                seeds[id.rawValue] = seed
                records[id] = RunRecord(id: id, status: .succeeded,
                                        metrics: Fixture.metrics(["semseg": Fixture.task(value, direction)]))
            }
        }
        let spec = TableSpec(name: "seeded", title: "seeded",
                             columns: [ColumnSpec(key: "semseg", header: "S", precision: precision)],
                             rows: values.map { row, samples in
                                 RowSpec(label: row, runs: samples.indices.map { Fixture.id("\(row)-\($0)") })
                             })
        return try Table(spec: spec, plan: Fixture.plan(tables: [spec], seeds: seeds), records: records)
    }

    @Test func boldAloneOnlyBeyondNoiseFromEveryOtherRow() throws {
        // a beats b by 5 with a spread of 0.1: Welch p ≈ 1e-6. c is nearly as high as a (49.67) but
        // spreads over 10: it cannot be told from a, so both are bold and the column is within noise.
        let clear = try Self.seeded(["a": [50, 50.1, 49.9], "b": [45, 45.1, 44.9]])
        #expect(clear.rows.map { $0.cells[0].isBest } == [true, false])
        #expect(!clear.columns[0].withinNoise)
        let noisy = try Self.seeded(["a": [50, 50.1, 49.9], "b": [45, 45.1, 44.9], "c": [40, 50, 59]])
        #expect(noisy.rows.map { $0.cells[0].isBest } == [true, false, true])
        #expect(noisy.columns[0].withinNoise)
        // Lower is better: b is best, alone.
        let lower = try Self.seeded(["a": [50, 50.1, 49.9], "b": [45, 45.1, 44.9]], direction: .lower)
        #expect(lower.rows.map { $0.cells[0].isBest } == [false, true])
        // Two seeds are too few, however clear the gap looks.
        let two = try Self.seeded(["a": [50, 50.1], "b": [45, 45.1]])
        #expect(two.rows.map { $0.cells[0].isBest } == [true, true])
    }

    @Test func welchTestAgreesWithAHandComputation() {
        // Means 2 and 0, stds 1 and 1 over 3 seeds: t = 2 / √(2/3) = 2.449, df = 4,
        // p = 0.0705 > 0.05; over 5 seeds t = 3.162, df = 8, p = 0.0134.
        #expect(!Table.beyondNoise(Summary(mean: 2, std: 1, n: 3), Summary(mean: 0, std: 1, n: 3)))
        #expect(Table.beyondNoise(Summary(mean: 2, std: 1, n: 5), Summary(mean: 0, std: 1, n: 5)))
        // Costs agree exactly over seeds: different means are different, equal ones are not.
        #expect(Table.beyondNoise(Summary(mean: 2, std: 0, n: 3), Summary(mean: 1, std: 0, n: 3)))
        #expect(!Table.beyondNoise(Summary(mean: 2, std: 0, n: 3), Summary(mean: 2, std: 0, n: 3)))
    }

    @Test func tiesAtTheDisplayedPrecisionAreAllBest() throws {
        // Three seeds that agree exactly: only the displayed precision can tie them.
        let table = try Self.seeded(["a": [41.2349, 41.2349, 41.2349], "b": [41.2251, 41.2251, 41.2251],
                                     "c": [41.2149, 41.2149, 41.2149]])
        // 41.2349 and 41.2251 both show as 41.23; 41.2149 shows as 41.21.
        #expect(table.rows.map { $0.cells[0].isBest } == [true, true, false])
        #expect(table.columns[0].withinNoise)
        // At 1 decimal all show as 41.2: all tie.
        let coarse = try Self.seeded(["a": [41.2349, 41.2349, 41.2349], "b": [41.2251, 41.2251, 41.2251],
                                      "c": [41.2149, 41.2149, 41.2149]], precision: 1)
        #expect(coarse.rows.map { $0.cells[0].isBest } == [true, true, true])
    }

    @Test func specErrorsNameTheTableAndKey() {
        var spec = Fixture.table()
        spec.columns.append(ColumnSpec(key: "params.trainabel", header: "P"))
        #expect(throws: ReportError.unknownColumnKey(table: "ablation", key: "params.trainabel")) {
            try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records)
        }
        spec = Fixture.table()
        spec.referenceRow = nil
        #expect(throws: ReportError.missingReferenceRow(table: "ablation")) {
            try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records)
        }
        spec.referenceRow = "Single task"
        let error = ReportError.unknownReferenceRow(table: "ablation", label: "Single task",
                                                    rows: ["Single Task", "MTLoRA (r=64)", "FAAR_1+2", "DiTASK"])
        #expect(throws: error) { try Table(spec: spec, plan: Fixture.demoPlan, records: Fixture.records) }
        #expect(error.description.contains("'Single task' is not one of its rows ('Single Task'"))
    }

    @Test func measureKeys() {
        #expect(Measure(key: "semseg") == .task("semseg"))
        #expect(Measure(key: "params.decoder") == .parameters(.decoder))
        #expect(Measure(key: "extra.top1") == .extra("top1"))
        #expect(Measure(key: "epoch_seconds") == .epochSeconds)
        #expect(Measure(key: "params.all") == nil)
        #expect(Measure(key: "extra.") == nil)
    }
}

@Suite struct ComparisonTests {
    @Test func pairedBySeedWithATTest() throws {
        let table = try Table(spec: Fixture.table(), plan: Fixture.demoPlan, records: Fixture.records)
        let comparison = try table.compare("MTLoRA (r=64)", with: "Single Task")
        let semseg = comparison.differences[0]
        // Seed 0: 67.1 - 60, seed 1: 59.78 - 62.
        #expect(semseg.summary!.n == 2)
        #expect(abs(semseg.summary!.mean - (7.1 + -2.22) / 2) < 1e-9)
        // Two seeds: a p-value (t = 2.44 / 4.66 = 0.524, 1 df: p = 0.69), but no verdict.
        #expect(abs(semseg.test!.p - 0.693) < 0.001)
        #expect(semseg.verdict == .tooFewSeeds)
        // FAAR has one seed: a difference, but no spread to judge it by.
        let faar = try table.compare("FAAR_1+2", with: "MTLoRA (r=64)")
        let delta = try #require(faar.differences[2].summary)
        #expect(abs(delta.mean - (5 - 10)) < 1e-9 && delta.std == nil && delta.n == 1)
        #expect(faar.differences[2].test == nil && faar.differences[2].verdict == .oneSeed)
        #expect(faar.differences[2].isImprovement == false)
        #expect(throws: ReportError.self) { try table.compare("FAAR", with: "MTLoRA (r=64)") }
    }

    @Test func tDistributionMatchesPrintedTables() {
        // Two-sided 95 % quantiles (any statistics textbook) and a p-value computed by hand.
        for (df, expected) in [(1.0, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042), (1000, 1.962)] {
            #expect(abs(StudentT.quantile(0.975, degreesOfFreedom: df) - expected) < 0.001, "df \(df)")
        }
        #expect(abs(StudentT.quantile(0.8, degreesOfFreedom: 4) - 0.941) < 0.001)
        // t = 1 with 1 df is the Cauchy distribution: P(|T| ≥ 1) = 1/2 exactly.
        #expect(abs(StudentT.twoSidedP(1, degreesOfFreedom: 1) - 0.5) < 1e-12)
        #expect(abs(StudentT.twoSidedP(2.776, degreesOfFreedom: 4) - 0.05) < 1e-4)
        #expect(StudentT.twoSidedP(0, degreesOfFreedom: 3) == 1)
    }

    @Test func intervalAndPowerOfAConsistentDifference() throws {
        // Differences 1.0, 1.1, 0.9: mean 1, std 0.1, t = 17.3 on 2 df, p = 0.0033;
        // CI 1 ± 4.303 · 0.1 / √3 = [0.752, 1.248].
        let consistent = try #require(RowComparison.test(Summary([1.0, 1.1, 0.9])!))
        #expect(abs(consistent.p - 0.00332) < 1e-4)
        #expect(abs(consistent.low - 0.7516) < 1e-3 && abs(consistent.high - 1.2484) < 1e-3)
        // An effect of 10 stds needs the minimum 3 seeds; one of 1 std about 10 at 0.05
        // (the textbook n = (1.96 + 0.84)² ≈ 8, plus the t correction).
        #expect(consistent.seedsNeeded == 3)
        #expect(RowComparison.seedsFor80PercentPower(mean: 1, std: 1, alpha: 0.05) == 10)
        // A Bonferroni-strict level asks for more seeds.
        #expect(RowComparison.seedsFor80PercentPower(mean: 1, std: 1, alpha: 0.05 / 20)! > 10)
        // A negligible effect needs more than anyone would run.
        #expect(RowComparison.seedsFor80PercentPower(mean: 0.01, std: 1, alpha: 0.05) == nil)
        #expect(RowComparison.test(Summary([1.0])!) == nil)
    }

    @Test func holmAdjustsTheWholeFamily() {
        // Sorted 0.01, 0.02, 0.03, 0.5: times 4, 3, 2, 1 = 0.04, 0.06, 0.06 (kept non-decreasing), 0.5.
        let adjusted = Holm.adjust([0.03, 0.5, 0.01, 0.02])
        let expected = [0.06, 0.5, 0.04, 0.06]
        #expect(zip(adjusted, expected).allSatisfy { abs($0 - $1) < 1e-12 })
        // 0.8 · 2 caps at 1, and 0.9 may not fall below it.
        #expect(Holm.adjust([0.9, 0.8]) == [1, 1])
        #expect(Holm.adjust([]).isEmpty)
    }

    /// Rows a and b of a one-column table (TableTests.seeded), compared.
    func comparison(_ a: [Double], _ b: [Double], precision: Int = 2) throws -> RowComparison {
        try TableTests.seeded(["a": a, "b": b], precision: precision).compare("a", with: "b")
    }

    @Test func identicalAndConstantDifferencesAreNeverBeyondNoise() throws {
        // Equal parameter counts: a difference of exactly 0 at every seed, no test.
        let equal = try comparison([2, 2, 2], [2, 2, 2])
        #expect(equal.differences[0].test == nil && equal.differences[0].verdict == .identical)
        // Counts in millions differ by a few ulps from seed to seed: still no variation, not a t of 1e15.
        let budget = try comparison([1.234567, 1.234567, 1.234567], [0.2 + 0.1, 0.3, 0.1 + 0.2])
        #expect(budget.differences[0].test == nil && budget.differences[0].verdict == .noVariation)
        let text = ComparisonReport([equal, budget]).markdown
        #expect(text.contains("| S ↑ | 0.00 ± 0.00 | — | 3 | — | — | identical | — |"), "\(text)")
        #expect(text.contains("| S ↑ | +0.93 ± 0.00 | — | 3 | — | — | no variation, better | — |"), "\(text)")
        #expect(text.contains("adjusted for the 0 tests printed here"))
    }

    @Test func aDifferenceThatRoundsToZeroGetsTheDigitsToShowIt() throws {
        // FAAR's shrunk GMACs against MTLoRA's: −0.003 would print "0.00" at the column's 2 decimals.
        let small = try comparison([0.0612, 0.0615, 0.0613], [0.0642, 0.0642, 0.0642])
        #expect(small.differences[0].displayPrecision == 4)
        let text = ComparisonReport([small]).markdown
        #expect(text.contains("| S ↑ | -0.0029 ± 0.0002 | [-0.0032, -0.0025] |"), "\(text)")
        // Differences visible at the column's precision keep it.
        #expect(try comparison([1.04, 1.05, 1.06], [1, 1, 1]).differences[0].displayPrecision == 2)
    }

    @Test func aDifferenceIsBeyondNoiseOnlyAfterTheCorrection() throws {
        // p = 0.0033 alone: beyond noise.
        let consistent = try comparison([51.0, 51.1, 50.9], [50, 50, 50])
        let alone = ComparisonReport([consistent])
        #expect(alone.comparisons[0].differences[0].verdict == .beyondNoise)
        #expect(alone.markdown.contains("| S ↑ | +1.00 ± 0.10 | [+0.75, +1.25] | 3 | 0.003 | 0.003 | yes, better | 3 |"),
                "\(alone.markdown)")
        // Differences 0.3, 0.4, 0.2 (p = 0.035) are beyond noise alone; beside differences 1, 2, 0
        // (p = 0.225) and the consistent ones, Holm asks 0.035 · 2 < 0.05 of them: only the first stays.
        let weak = try comparison([0.3, 0.4, 0.2], [0, 0, 0])
        let vague = try comparison([1, 2, 0], [0, 0, 0])
        #expect(ComparisonReport([weak]).comparisons[0].differences[0].verdict == .beyondNoise)
        let family = ComparisonReport([consistent, weak, vague])
        #expect(family.testCount == 3)
        #expect(family.comparisons.map { $0.differences[0].verdict } == [.beyondNoise, .withinNoise, .withinNoise])
        let adjusted = family.comparisons.map { $0.differences[0].adjustedP! }
        #expect(abs(adjusted[0] - 3 * 0.00332) < 1e-4)
        #expect(family.markdown.contains("adjusted for the 3 tests printed here"))
        #expect(family.markdown.contains("at 0.05/3 (Holm's strictest step"))
    }

    @Test func markdownWarnsWhenSeedsAreTooFew() throws {
        let table = try Table(spec: Fixture.table(), plan: Fixture.demoPlan, records: Fixture.records)
        let report = ComparisonReport([try table.compare("MTLoRA (r=64)", with: "Single Task"),
                                       try table.compare("FAAR_1+2", with: "MTLoRA (r=64)")])
        let text = report.markdown
        #expect(text.hasPrefix("# Ablation on PASCAL_Context (ours & paper)\n\n| MTLoRA (r=64) − Single Task |"))
        #expect(text.components(separatedBy: "# Ablation").count == 2, "one title for two comparisons of one table")
        #expect(text.contains("| SemSeg ↑ | +2.44 ± 6.59 | [-56.77, +61.65] | 2 | 0.693 | 1.000 | too few seeds | 80 |"))
        // Parameter counts do not vary over seeds: no test, and the direction-less column says no way.
        #expect(text.contains("| Params (M) | -1.00 ± 0.00 | — | 2 | — | — | no variation | — |"))
        #expect(text.contains("| SemSeg ↑ | -3.05 | — | 1 | — | — | one seed: cannot tell | — |"))
        #expect(text.contains("Warning: MTLoRA (r=64) − Single Task has 2 shared seeds, fewer than 3: nothing in it "
                              + "can be beyond noise; at the observed spread its differences would need from 80 to more than "
                              + "100 seeds (last column)."))
        #expect(text.contains("Warning: FAAR\\_1+2 − MTLoRA (r=64) has one shared seed"))
    }
}
