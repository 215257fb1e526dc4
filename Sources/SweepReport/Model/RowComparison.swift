import RunContract

/// One row of a table against another (FAAR against MTLoRA at a matched budget), column by
/// column: the difference seed by seed, its spread, and whether it exceeds the noise. Seeds are
/// paired because runs with the same seed share data order and initialisation.
public struct RowComparison: Sendable, Hashable {
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
        /// A two-sided paired t-test at 95 %: |mean| > t(0.975, n − 1) · std / √n. nil below two
        /// seeds, where there is no spread to judge by.
        public var exceedsNoise: Bool?

        /// The difference points the column's better way (nil without a direction or a difference).
        public var isImprovement: Bool? {
            guard let mean = summary?.mean, let direction, mean != 0 else { return nil }
            return (mean > 0) == (direction == .higher)
        }
    }

    /// Two-sided 95 % quantiles of Student's t for 1...30 degrees of freedom; 1.96 beyond.
    static let tQuantiles: [Double] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ]

    static func exceedsNoise(_ summary: Summary) -> Bool? {
        guard summary.n > 1, let std = summary.std else { return nil }
        let t = summary.n - 1 <= tQuantiles.count ? tQuantiles[summary.n - 2] : 1.96
        return abs(summary.mean) > t * std / Double(summary.n).squareRoot()
    }

    /// A Markdown table of the differences, formatted like the tables themselves.
    public var markdown: String {
        var lines = ["| \(TextEscaping.markdown(row)) − \(TextEscaping.markdown(baseline)) | difference | n | beyond noise (paired t, 95 %) |",
                     "|:--|--:|--:|:--|"]
        for difference in differences {
            let arrow = difference.direction.map { " \($0.arrow)" } ?? ""
            var value = "—", verdict = "—", n = "0"
            if let summary = difference.summary {
                value = NumberFormat.fixed(summary.mean, precision: difference.precision, signed: true)
                    + (summary.std.map { " ± " + NumberFormat.fixed($0, precision: difference.precision) } ?? "")
                n = String(summary.n)
                switch (difference.exceedsNoise, difference.isImprovement) {
                case (nil, _): verdict = "one seed: cannot tell"
                case (false?, _): verdict = "no"
                case (true?, true?): verdict = "yes, better"
                case (true?, false?): verdict = "yes, worse"
                case (true?, nil): verdict = "yes"
                }
            }
            lines.append("| \(TextEscaping.markdown(difference.header))\(arrow) | \(value) | \(n) | \(verdict) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension Table {
    /// `row` against `baseline`, over the seeds both rows have for each column.
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
            return RowComparison.Difference(key: columns[index].key, header: columns[index].header,
                                            precision: columns[index].precision, direction: columns[index].direction,
                                            summary: summary, exceedsNoise: summary.flatMap(RowComparison.exceedsNoise))
        }
        return RowComparison(row: row, baseline: baseline, differences: differences)
    }
}
