import RunContract
import SweepCore

/// A table computed from the ledger: numbers only, no formatting beyond the precision each
/// column is shown at (which decides ties for "best"). Renderers turn it into Markdown, LaTeX
/// and CSV; tests check it without templates.
public struct Table: Sendable {
    public var name: String
    public var title: String
    public var layout: String
    public var columns: [Column]
    public var rows: [Row]
    public var referenceRow: String?
    public var paperSource: String?
    /// Versions reported by the runs behind the table, sorted.
    public var engineVersions: [String]
    /// The BLAS kernel sets the runs behind the table computed with, sorted (runs of engines that
    /// do not report one add nothing): bits, and at our scale the last digits, depend on them.
    public var blasCores: [String]
    /// Distinct runs the measured rows name, and how many of them succeeded.
    public var plannedRuns: Int
    public var succeededRuns: Int
    /// The most common n among measured cells (the number of seeds, usually); cells with another
    /// n are marked with it, so a full table is not cluttered with "(n=3)" everywhere.
    public var typicalN: Int?
    /// The scale every learned run shares, as their configs give it (`Table.scaleKeys`).
    public var scale: [ScaleSetting]
    /// The row of constant predictions, and the task columns no other row is beyond noise above
    /// it in (columns that carry no signal at this scale).
    public var trivialRow: String?
    public var columnsAtTrivial: [String] = []

    /// One scale key of the runs' configs: its value when every run agrees, else each value seen.
    public struct ScaleSetting: Sendable, Hashable {
        public var key: String
        public var values: [String]
    }

    public struct Column: Sendable, Hashable {
        public var key: String
        public var measure: Measure
        public var header: String
        /// nil: no better or worse (parameter counts unless the manifest says otherwise), no bold.
        public var direction: Direction?
        public var precision: Int
        /// Some row has a published value for this column: renderers show a paper column beside it.
        public var hasPaper: Bool
        /// Several values are bold: the best cannot be told from them (see `markBest`).
        public var withinNoise: Bool = false
    }

    public struct Row: Sendable, Hashable {
        public var label: String
        public var note: String?
        public var paperOnly: Bool
        /// Why a paper-only row has no runs; nil: the engine does not implement it.
        public var paperOnlyReason: String?
        /// Its cell in the "grid" layout.
        public var gridPosition: GridPosition?
        public var isReference: Bool
        /// One per column, in the columns' order.
        public var cells: [Cell]
        public var plannedRuns: Int
        public var succeededRuns: Int
    }

    public struct Cell: Sendable, Hashable {
        /// nil: no finished run gives this value (or the row is paper-only).
        public var measured: Summary?
        /// The value of each seed behind `measured`, for comparisons paired by seed (runs the plan
        /// does not know have no seed and are left out here).
        public var bySeed: [Int: Double] = [:]
        /// As the paper prints it (its decimals, "≈").
        public var paper: PublishedValue?
        /// Bold: the best of its column at the displayed precision, or within noise of it.
        public var isBest: Bool
    }
}

extension Table {
    /// Computes `spec` from the records of its runs. Runs that have not succeeded, or have no
    /// metrics, contribute nothing.
    public init(spec: TableSpec, plan: Plan, records: [RunID: RunRecord]) throws {
        let measures = try spec.columns.map { column -> Measure in
            guard let measure = Measure(key: column.key) else {
                throw ReportError.unknownColumnKey(table: spec.name, key: column.key)
            }
            return measure
        }
        let rowSamples = spec.rows.map { row in
            row.paperOnly ? [] : SeedSample.group(row.runs, plan: plan, records: records)
        }

        var reference: [String: Double] = [:]
        if measures.contains(.deltaM) {
            guard let label = spec.referenceRow else { throw ReportError.missingReferenceRow(table: spec.name) }
            guard let index = spec.rows.firstIndex(where: { $0.label == label }) else {
                throw ReportError.unknownReferenceRow(table: spec.name, label: label,
                                                      rows: spec.rows.map(\.label))
            }
            reference = DeltaM.reference(from: rowSamples[index].flatMap(\.runs))
        }

        columns = zip(spec.columns, measures).map { column, measure in
            Column(key: column.key, measure: measure, header: column.header,
                   direction: column.direction ?? Self.defaultDirection(of: measure, samples: rowSamples),
                   precision: measure == .singleInference ? 0 : max(0, column.precision),
                   // ✓/✕ is the method's, not a result: the paper's fills its paper-only rows instead.
                   hasPaper: measure != .singleInference && spec.rows.contains { $0.paper[column.key] != nil })
        }
        rows = zip(spec.rows, rowSamples).map { row, samples in
            let cells = zip(spec.columns, measures).map { column, measure in
                let values = samples.map { ($0.seed, $0.value(of: measure, reference: reference)) }
                var bySeed: [Int: Double] = [:]
                for case let (seed?, value?) in values { bySeed[seed] = value }
                return Cell(measured: row.paperOnly ? nil : Summary(values.compactMap(\.1)), bySeed: bySeed,
                            paper: row.paper[column.key], isBest: false)
            }
            let runs = Set(row.paperOnly ? [] : row.runs)
            return Row(label: row.label, note: row.note, paperOnly: row.paperOnly, paperOnlyReason: row.paperOnlyReason,
                       gridPosition: row.gridPosition,
                       isReference: row.label == spec.referenceRow, cells: cells,
                       plannedRuns: runs.count,
                       succeededRuns: runs.filter { records[$0]?.succeededMetrics != nil }.count)
        }

        name = spec.name
        title = spec.title
        layout = spec.layout
        referenceRow = spec.referenceRow
        paperSource = spec.paperSource
        let measuredRuns = Set(spec.rows.filter { !$0.paperOnly }.flatMap(\.runs))
        let finished = measuredRuns.compactMap { records[$0]?.succeededMetrics }
        engineVersions = Set(finished.map(\.engineVersion)).sorted()
        blasCores = Set(finished.compactMap(\.numerics?.blasCore)).sorted()
        plannedRuns = measuredRuns.count
        succeededRuns = finished.count
        typicalN = Self.mostCommon(rows.flatMap { $0.cells.compactMap { $0.measured?.n } })
        trivialRow = spec.trivialRow
        let learnedRuns = spec.rows.filter { !$0.paperOnly && $0.label != spec.trivialRow }.flatMap(\.runs)
        scale = Self.scale(of: learnedRuns.compactMap { plan.run($0)?.config })
        markBest()
        columnsAtTrivial = columnsNotAboveTrivial()
    }

    /// Config keys that set the scale a table's numbers were measured at (mtl-engine's names;
    /// keys a run's config does not set are at the engine's defaults).
    static let scaleKeys = ["dataset", "backbone", "backbone_weights", "pretrained", "profile",
                            "image_size", "epochs", "train_images", "val_images", "batch_size"]

    private static func scale(of configs: [JSONValue]) -> [ScaleSetting] {
        guard !configs.isEmpty else { return [] }
        return scaleKeys.compactMap { key in
            let values = configs.map { $0[key].map(Self.scaleText) }
            guard values.contains(where: { $0 != nil }) else { return nil }
            var seen: [String] = []
            for value in values where !seen.contains(value ?? "default") { seen.append(value ?? "default") }
            return ScaleSetting(key: key, values: seen)
        }
    }

    private static func scaleText(_ value: JSONValue) -> String {
        value.stringValue ?? value.canonical
    }

    /// Task columns where the trivial row is within noise of, or above, every other measured row.
    private func columnsNotAboveTrivial() -> [String] {
        guard let trivial = rows.first(where: { $0.label == trivialRow }) else { return [] }
        return columns.indices.compactMap { index -> String? in
            guard case .task = columns[index].measure, let direction = columns[index].direction,
                  let constant = trivial.cells[index].measured else { return nil }
            let above = rows.contains { row in
                guard row.label != trivialRow, let learned = row.cells[index].measured else { return false }
                let better = direction == .higher ? learned.mean > constant.mean : learned.mean < constant.mean
                return better && Self.beyondNoise(learned, constant)
            }
            return above ? nil : columns[index].header
        }
    }

    /// Task columns take the direction the runs report; Δm is higher-is-better by definition;
    /// costs have none unless the manifest gives one.
    private static func defaultDirection(of measure: Measure, samples: [[SeedSample]]) -> Direction? {
        switch measure {
        case .deltaM: return .higher
        case .task(let name):
            return samples.lazy.flatMap { $0 }.flatMap(\.runs).compactMap { $0.tasks[name]?.direction }.first
        case .parameters, .gmacs, .trainSeconds, .epochSeconds, .extra, .singleInference: return nil
        }
    }

    /// Ties go to the larger n, so a table with as many full as partial rows reads as full.
    private static func mostCommon(_ values: [Int]) -> Int? {
        var counts: [Int: Int] = [:]
        for value in values { counts[value, default: 0] += 1 }
        return counts.max { ($0.value, $0.key) < ($1.value, $1.key) }?.key
    }

    /// Bold the best measured value of each column with a direction, compared as displayed, and
    /// every value the best cannot be told from: a bold value alone is beyond noise from every
    /// other row. One Welch test per other row, no correction: the best stands alone only if all
    /// of them reject (an intersection-union test keeps its level). The reference row takes no
    /// part in Δm: its Δm is zero by construction.
    private mutating func markBest() {
        for (index, column) in columns.enumerated() {
            guard let direction = column.direction else { continue }
            let candidates = rows.indices.compactMap { row -> (row: Int, shown: Double, summary: Summary)? in
                guard !(rows[row].isReference && column.measure == .deltaM),
                      let summary = rows[row].cells[index].measured else { return nil }
                return (row, NumberFormat.displayed(summary.mean, precision: column.precision), summary)
            }
            let shown = candidates.map(\.shown)
            guard let best = direction == .higher ? shown.max() : shown.min() else { continue }
            let leaders = candidates.filter { $0.shown == best }
            for candidate in candidates
            where candidate.shown == best || leaders.contains(where: { !Self.beyondNoise($0.summary, candidate.summary) }) {
                rows[candidate.row].cells[index].isBest = true
            }
            columns[index].withinNoise = rows.filter { $0.cells[index].isBest }.count > 1
        }
    }

    /// Two cells differ beyond noise: a two-sided Welch t-test at 95 % (unpaired, so rows with
    /// other seeds or a failed seed compare too; pairing would only narrow it), on at least
    /// `RowComparison.minimumSeeds` seeds each, as `sweep compare` asks. Cells that agree over
    /// seeds exactly (costs) differ beyond noise whenever their means differ.
    static func beyondNoise(_ a: Summary, _ b: Summary) -> Bool {
        // One value (the Trivial row, a one-seed run) against a sample of enough seeds: beyond
        // noise when outside the sample's 95 % prediction interval, mean ± t s sqrt(1 + 1/n).
        if min(a.n, b.n) == 1 {
            let (single, sample) = a.n == 1 ? (a, b) : (b, a)
            guard sample.n >= RowComparison.minimumSeeds, let std = sample.std else { return false }
            let spread = std * (1 + 1 / Double(sample.n)).squareRoot()
            guard spread > 1e-9 * max(1, abs(single.mean), abs(sample.mean)) else { return single.mean != sample.mean }
            return StudentT.twoSidedP((single.mean - sample.mean) / spread, degreesOfFreedom: Double(sample.n - 1))
                < RowComparison.alpha
        }
        guard a.n >= RowComparison.minimumSeeds, b.n >= RowComparison.minimumSeeds,
              let stdA = a.std, let stdB = b.std else { return false }
        let (varianceA, varianceB) = (stdA * stdA / Double(a.n), stdB * stdB / Double(b.n))
        let standardError = (varianceA + varianceB).squareRoot()
        guard standardError > 1e-9 * max(1, abs(a.mean), abs(b.mean)) else { return a.mean != b.mean }
        // Welch-Satterthwaite degrees of freedom.
        let df = (varianceA + varianceB) * (varianceA + varianceB)
            / (varianceA * varianceA / Double(a.n - 1) + varianceB * varianceB / Double(b.n - 1))
        return StudentT.twoSidedP((a.mean - b.mean) / standardError, degreesOfFreedom: df) < RowComparison.alpha
    }
}

extension RunRecord {
    /// The metrics of a run that finished; nil for every other state.
    var succeededMetrics: RunMetrics? { status == .succeeded ? metrics : nil }
}

/// The runs of one row that share a seed: one multi-task run, or one single-task run per task.
/// A seed is one sample of every cell in the row, so single-task rows are combined per seed.
struct SeedSample {
    /// nil for a run the plan does not know.
    var seed: Int?
    var runs: [RunMetrics]
    /// Every run of the seed succeeded: costs and Δm describe the whole configuration and need all.
    var complete: Bool

    /// Groups by the plan's seed, in the row's order; a run the plan does not know is its own sample.
    static func group(_ ids: [RunID], plan: Plan, records: [RunID: RunRecord]) -> [SeedSample] {
        enum Key: Hashable { case seed(Int), run(RunID) }
        var order: [Key] = []
        var samples: [Key: SeedSample] = [:]
        for id in ids {
            let key = plan.run(id).map { Key.seed($0.seed) } ?? .run(id)
            if samples[key] == nil {
                order.append(key)
                samples[key] = SeedSample(seed: plan.run(id)?.seed, runs: [], complete: true)
            }
            if let metrics = records[id]?.succeededMetrics {
                samples[key]!.runs.append(metrics)
            } else {
                samples[key]!.complete = false
            }
        }
        return order.map { samples[$0]! }
    }

    /// The tasks of the seed, each the mean over the runs that report it.
    var tasks: [String: TaskMetric] {
        var merged: [String: TaskMetric] = [:]
        for name in Set(runs.flatMap(\.tasks.keys)).sorted() {
            let metrics = runs.compactMap { $0.tasks[name] }
            merged[name] = TaskMetric(name: metrics[0].name,
                                      value: metrics.map(\.value).reduce(0, +) / Double(metrics.count),
                                      direction: metrics[0].direction)
        }
        return merged
    }

    func value(of measure: Measure, reference: [String: Double]) -> Double? {
        switch measure {
        case .task(let name):
            return Self.mean(runs.compactMap { $0.tasks[name]?.value })
        case .extra(let name):
            return Self.mean(runs.compactMap { $0.extra[name] })
        case .deltaM:
            guard complete else { return nil }
            return DeltaM.percent(tasks, reference: reference)
        case .singleInference:
            // A seed is one model, or one per task (the single-task rows).
            guard complete, !runs.isEmpty else { return nil }
            return runs.count == 1 ? 1 : 0
        case .parameters, .gmacs, .trainSeconds, .epochSeconds:
            // A row of single-task runs costs the sum of its models.
            guard complete, !runs.isEmpty else { return nil }
            let costs = runs.compactMap { measure.cost(of: $0) }
            return costs.count == runs.count ? costs.reduce(0, +) : nil
        }
    }

    private static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}
