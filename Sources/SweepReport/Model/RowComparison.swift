import Foundation
import RunContract

/// One row of a table against another (FAAR against MTLoRA at a matched budget), column by
/// column: the difference seed by seed, its spread, a paired t-test and whether it exceeds the
/// noise. Seeds are paired because runs with the same seed share data order and initialisation.
/// The verdict needs the whole family of tests printed together: see `ComparisonReport`.
public struct RowComparison: Sendable, Hashable {
    /// The title of the table both rows belong to.
    public var table: String
    public var row: String
    public var baseline: String
    public var differences: [Difference]

    public struct Difference: Sendable, Hashable {
        public var key: String
        public var header: String
        public var precision: Int
        public var direction: Direction?
        /// row − baseline over the seeds both have: mean, sample std, n. nil without shared seeds.
        public var summary: Summary?
        /// The paired test; nil where there is nothing to test (see `test(_:)`).
        public var test: PairedTest?
        /// `test.p` adjusted for the family it is printed with (Holm-Bonferroni); nil without a test.
        public var adjustedP: Double?

        /// The difference points the column's better way (nil without a direction or a difference).
        public var isImprovement: Bool? {
            guard let mean = summary?.mean, let direction, mean != 0 else { return nil }
            return (mean > 0) == (direction == .higher)
        }

        /// The column's decimals, or as many as show two significant digits of a mean difference
        /// that would print as zero at them (FAAR's −0.003 GMACs is not "0.00 ± 0.00").
        public var displayPrecision: Int {
            guard let mean = summary?.mean, mean != 0,
                  abs(mean) < 0.5 * pow(10, -Double(precision)) else { return precision }
            return min(1 - Int(log10(abs(mean)).rounded(.down)), 8)
        }

        public var verdict: Verdict {
            guard let summary else { return .noSharedSeed }
            guard summary.n > 1 else { return .oneSeed }
            if RowComparison.isConstant(summary) { return summary.mean == 0 ? .identical : .noVariation }
            if summary.n < RowComparison.minimumSeeds { return .tooFewSeeds }
            guard let adjustedP else { return .tooFewSeeds }
            return adjustedP < RowComparison.alpha ? .beyondNoise : .withinNoise
        }
    }

    /// What a difference says, in the words the table prints.
    public enum Verdict: Sendable, Hashable {
        case noSharedSeed, oneSeed
        /// n < `minimumSeeds`: the test is printed, but the verdict is not drawn from it.
        case tooFewSeeds
        /// The same value every seed, both rows: nothing to test (equal parameter counts).
        case identical
        /// The same nonzero difference every seed (different budgets): a fact, not a noise question.
        case noVariation
        case withinNoise, beyondNoise
    }

    /// A two-sided paired t-test of the mean difference against zero, and what it implies.
    public struct PairedTest: Sendable, Hashable {
        /// Unadjusted two-sided p-value, t = mean / (std / √n) with n − 1 degrees of freedom.
        public var p: Double
        /// 95 % confidence interval of the mean difference: mean ± t(0.975, n − 1) · std / √n.
        public var low: Double
        public var high: Double
        /// Seeds a comparison with this mean and std would need for 80 % power at the family's
        /// strictest level (see `seedsFor80PercentPower`); nil for more than `maximumSeeds`.
        public var seedsNeeded: Int?
    }

    static let alpha = 0.05
    /// Below 3 seeds a test has 1 degree of freedom (t must exceed 12.7), and one odd seed decides
    /// it: such differences are printed, never called beyond noise.
    public static let minimumSeeds = 3
    /// Power estimates beyond this many seeds print as "> 100": the effect is negligible.
    static let maximumSeeds = 100

    /// No spread at all: the values agree to the last bits a sum of millions keeps (counts in
    /// millions differ by ~1e-16 seed to seed), so a t-test would divide by zero.
    static func isConstant(_ summary: Summary) -> Bool {
        guard let std = summary.std else { return false }
        return std <= 1e-9 * max(1, abs(summary.mean))
    }

    /// The paired test of `summary` at level `alpha`, the power estimate at `powerAlpha`; nil for
    /// one seed or no spread.
    static func test(_ summary: Summary, powerAlpha: Double = alpha) -> PairedTest? {
        guard summary.n > 1, let std = summary.std, !isConstant(summary) else { return nil }
        let df = Double(summary.n - 1)
        let standardError = std / Double(summary.n).squareRoot()
        let half = StudentT.quantile(1 - alpha / 2, degreesOfFreedom: df) * standardError
        return PairedTest(p: StudentT.twoSidedP(summary.mean / standardError, degreesOfFreedom: df),
                          low: summary.mean - half, high: summary.mean + half,
                          seedsNeeded: seedsFor80PercentPower(mean: summary.mean, std: std, alpha: powerAlpha))
    }

    /// The smallest n (≥ `minimumSeeds`) at which a two-sided paired t-test at `alpha` detects a
    /// true mean difference `mean` with per-seed std `std` 80 % of the time. Uses the usual
    /// shifted central t (power ≈ P(T > t(1 − α/2) − |mean|·√n/std)), which is within a seed of
    /// the noncentral t at these sizes. nil when more than `maximumSeeds` would be needed.
    static func seedsFor80PercentPower(mean: Double, std: Double, alpha: Double) -> Int? {
        guard std > 0, mean != 0 else { return nil }
        let effect = abs(mean) / std
        for n in minimumSeeds...maximumSeeds {
            let df = Double(n - 1)
            let shift = StudentT.quantile(1 - alpha / 2, degreesOfFreedom: df) - effect * Double(n).squareRoot()
            if 1 - StudentT.cdf(shift, degreesOfFreedom: df) >= 0.8 { return n }
        }
        return nil
    }
}

extension Table {
    /// `row` against `baseline`, over the seeds both rows have for each column, tested alone
    /// (a family of one: `ComparisonReport` adjusts several together).
    public func compare(_ row: String, with baseline: String) throws -> RowComparison {
        func find(_ label: String) throws -> Row {
            guard let found = rows.first(where: { $0.label == label }) else {
                throw ReportError.unknownRow(table: name, label: label, rows: rows.map(\.label))
            }
            return found
        }
        let (measured, base) = (try find(row), try find(baseline))
        let differences = columns.indices.map { index in
            let ours = measured.cells[index].bySeed, theirs = base.cells[index].bySeed
            let seeds = Set(ours.keys).intersection(theirs.keys).sorted()
            let summary = Summary(seeds.map { ours[$0]! - theirs[$0]! })
            let test = summary.flatMap { RowComparison.test($0) }
            return RowComparison.Difference(key: columns[index].key, header: columns[index].header,
                                            precision: columns[index].precision, direction: columns[index].direction,
                                            summary: summary, test: test, adjustedP: test?.p)
        }
        return RowComparison(table: title, row: row, baseline: baseline, differences: differences)
    }
}
