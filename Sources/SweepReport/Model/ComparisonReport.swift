import Foundation

/// The comparisons printed together (one `sweep compare`, one comparisons.md): one family of
/// tests. Each p-value is adjusted for the whole family (Holm-Bonferroni), since with about 20
/// tests at 95 % one false "beyond noise" is expected by chance alone.
public struct ComparisonReport: Sendable, Hashable {
    public var comparisons: [RowComparison]
    /// The tests of the family: differences with a spread over at least two shared seeds.
    public var testCount: Int

    public init(_ comparisons: [RowComparison]) {
        var comparisons = comparisons
        let tested = comparisons.indices.flatMap { c in
            comparisons[c].differences.indices.compactMap { d in comparisons[c].differences[d].test.map { ((c, d), $0.p) } }
        }
        let adjusted = Holm.adjust(tested.map(\.1))
        // The seeds a difference needs are counted at the strictest level Holm may ask of it.
        let powerAlpha = RowComparison.alpha / Double(max(1, tested.count))
        for (((c, d), _), p) in zip(tested, adjusted) {
            comparisons[c].differences[d].adjustedP = p
            comparisons[c].differences[d].test = RowComparison.test(comparisons[c].differences[d].summary!,
                                                                    powerAlpha: powerAlpha)
        }
        self.comparisons = comparisons
        testCount = tested.count
    }

    /// Each comparison as a Markdown table under its table's title (repeated only when the
    /// table changes), then how to read them and what the seeds cannot say.
    public var markdown: String {
        var text = ""
        var title: String?
        for comparison in comparisons {
            if comparison.table != title {
                text += (title == nil ? "" : "\n") + "# \(comparison.table)\n"
                title = comparison.table
            }
            text += "\n" + Self.markdown(comparison)
        }
        return text + "\n" + notes.joined(separator: "\\\n") + "\n"
    }

    static func markdown(_ comparison: RowComparison) -> String {
        let name = "\(TextEscaping.markdown(comparison.row)) − \(TextEscaping.markdown(comparison.baseline))"
        var lines = ["| \(name) | difference | 95 % CI | n | p | p (Holm) | beyond noise | seeds for 80 % power |",
                     "|:--|--:|--:|--:|--:|--:|:--|--:|"]
        for difference in comparison.differences {
            let arrow = difference.direction.map { " \($0.arrow)" } ?? ""
            func number(_ value: Double, signed: Bool = true) -> String {
                NumberFormat.fixed(value, precision: difference.displayPrecision, signed: signed)
            }
            var value = "—", interval = "—", n = "0", p = "—", adjusted = "—", seeds = "—"
            if let summary = difference.summary {
                value = number(summary.mean) + (summary.std.map { " ± " + number($0, signed: false) } ?? "")
                n = String(summary.n)
            }
            if let test = difference.test {
                interval = "[\(number(test.low)), \(number(test.high))]"
                p = pValue(test.p)
                seeds = test.seedsNeeded.map(String.init) ?? "> \(RowComparison.maximumSeeds)"
            }
            if let adjustedP = difference.adjustedP { adjusted = pValue(adjustedP) }
            let cells = [value, interval, n, p, adjusted, verdict(difference), seeds]
            lines.append("| \(TextEscaping.markdown(difference.header))\(arrow) | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func verdict(_ difference: RowComparison.Difference) -> String {
        let way = difference.isImprovement.map { $0 ? ", better" : ", worse" } ?? ""
        switch difference.verdict {
        case .noSharedSeed: return "—"
        case .oneSeed: return "one seed: cannot tell"
        case .tooFewSeeds: return "too few seeds"
        case .identical: return "identical"
        case .noVariation: return "no variation" + way
        case .withinNoise: return "no"
        case .beyondNoise: return "yes" + way
        }
    }

    /// Three decimals, as p-values are usually read; below that only "< 0.001".
    static func pValue(_ p: Double) -> String {
        p < 0.001 ? "< 0.001" : NumberFormat.fixed(p, precision: 3)
    }

    /// How to read the tables, and a warning for every comparison with too few seeds to decide.
    public var warnings: [String] { notes.filter { $0.hasPrefix("Warning: ") } }

    var notes: [String] {
        var notes = [
            "Difference: row − baseline seed by seed, mean ± sample std over the n seeds both rows have; "
                + "95 % CI of the mean difference (paired t).",
            "p: two-sided paired t-test; p (Holm): adjusted for the \(testCount) "
                + (testCount == 1 ? "test" : "tests") + " printed here (Holm-Bonferroni); "
                + "beyond noise: adjusted p < 0.05 over at least \(RowComparison.minimumSeeds) seeds.",
            "identical: the same value in both rows at every seed; no variation: the same difference at every seed "
                + "(a fact of the configurations, not a question of noise).",
            "Seeds for 80 % power: the seeds a difference of this mean and std needs to be found beyond noise "
                + "4 times in 5, at 0.05/\(max(1, testCount)) (Holm's strictest step for this report).",
        ]
        for comparison in comparisons {
            let few = comparison.differences.compactMap(\.summary).filter { $0.n < RowComparison.minimumSeeds }
            guard let n = few.map(\.n).max() else { continue }
            let name = "\(TextEscaping.markdown(comparison.row)) − \(TextEscaping.markdown(comparison.baseline))"
            let needed = comparison.differences.filter { ($0.summary?.n ?? 0) < RowComparison.minimumSeeds }
                .compactMap { $0.test.map { $0.seedsNeeded ?? RowComparison.maximumSeeds + 1 } }
            let needs: String
            if let most = needed.max(), let fewest = needed.min() {
                let count = { (seeds: Int) in seeds > RowComparison.maximumSeeds ? "more than \(RowComparison.maximumSeeds)" : "\(seeds)" }
                needs = "at the observed spread its differences would need " + (most == fewest ? count(most)
                    : "from \(count(fewest)) to \(count(most))") + " seeds (last column)"
            } else {
                needs = n > 1 ? "the last column says how many the observed spread would need"
                              : "one seed shows no spread, so how many would be needed is unknown"
            }
            notes.append("Warning: \(name) has \(n == 1 ? "one shared seed" : "\(n) shared seeds"), fewer than "
                         + "\(RowComparison.minimumSeeds): nothing in it can be beyond noise; \(needs).")
        }
        return notes
    }
}
