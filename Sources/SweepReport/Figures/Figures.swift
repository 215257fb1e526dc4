import Foundation
import RunContract
import SweepCore

/// A figure to write beside a table, as `<table>-<slug>.svg`.
public struct Figure: Sendable {
    public var slug: String
    public var title: String
    public var svg: String
}

/// The figures a table's runs can give, found from what they report:
/// - rank curves when runs report `ranks` (FAAR's PDRS): the average rank per epoch of every row
///   (one line per row, e.g. per ρ) and, per row, every adapter's rank per epoch of its first run;
/// - the time per epoch when the table has a time column; with a GMACs column too, and runs that
///   report their GMACs per epoch, rank, time and GMACs per epoch stacked (FAAR's cost over training);
/// - Δm against trainable parameters when the table has both columns (a Pareto plot);
/// - a task-similarity heat map when a run reports `extra` values named `similarity.<a>.<b>`.
enum Figures {
    /// `plan`: where to find the runs built on a similarity run, whose task groups its heat map shows.
    static func all(for table: Table, spec: TableSpec, records: [RunID: RunRecord], plan: Plan? = nil) -> [Figure] {
        var figures: [Figure] = []
        let rows = spec.rows.filter { !$0.paperOnly }.map { row in
            (label: row.label, runs: row.runs.compactMap { records[$0]?.succeededMetrics })
        }
        // The rank figures leave out the adapters that never learn (`untrainedAdapters`) and say so.
        let rankRows = rows.map { row in (label: row.label, runs: row.runs.map(withoutUntrainedAdapters)) }
        let leftOut = rows.contains { $0.runs.contains { $0.ranks.map { !untrainedAdapters(in: $0.keys).isEmpty } ?? false } }
        if var chart = averageRanks(rows: rankRows, title: "Average rank per epoch") {
            chart.subtitle = table.title + (leftOut ? "; " + untrainedNote : "")
            figures.append(Figure(slug: "ranks", title: chart.title, svg: chart.svg))
        }
        var slugs: Set<String> = []
        for (row, rankRow) in zip(rows, rankRows) {
            guard let index = row.runs.firstIndex(where: { $0.ranks?.isEmpty == false }) else { continue }
            let run = rankRow.runs[index], ranks = run.ranks ?? [:]
            let left = untrainedAdapters(in: row.runs[index].ranks!.keys)
            let title = "Rank of every adapter per epoch"
            let subtitle = "\(row.label) (\(table.title))" + (left.isEmpty ? "" : "; " + untrainedNote)
            let slug = unique("ranks-" + slugged(row.label), in: &slugs)
            // A line per adapter reads well for a few adapters; a whole model's need the grid.
            let svg: String
            if ranks.count > LineChart.legendLimit {
                svg = RankMap(title: title, subtitle: subtitle,
                              adapters: ranks.map { RankMap.Adapter(name: $0.key, ranks: $0.value) }).svg
            } else {
                var chart = adapterRanks(run, title: title)!
                chart.subtitle = subtitle
                svg = chart.svg
            }
            figures.append(Figure(slug: slug, title: "\(title): \(row.label)", svg: svg))
        }
        let timed = table.columns.contains { $0.measure == .epochSeconds || $0.measure == .trainSeconds }
        if timed, table.columns.contains(where: { $0.measure == .gmacs }),
           var chart = costOverTraining(rows: rankRows, title: "Cost over training") {
            chart.subtitle = table.title + (leftOut ? "; ranks: " + untrainedNote : "")
            figures.append(Figure(slug: "cost", title: chart.title, svg: chart.svg))
        } else if timed, var chart = epochTimes(rows: rows, title: "Time per epoch") {
            chart.subtitle = table.title
            figures.append(Figure(slug: "epoch-seconds", title: chart.title, svg: chart.svg))
        }
        if let chart = pareto(table) {
            figures.append(Figure(slug: "pareto", title: chart.title, svg: chart.svg))
        }
        if let chart = deltaMAgainstX(table, spec: spec) {
            figures.append(Figure(slug: "delta-m", title: chart.title, svg: chart.svg))
        }
        for (row, rowSpec) in zip(rows, spec.rows.filter { !$0.paperOnly }) {
            guard var map = similarity(row.runs.map(\.extra), title: "\(row.label): task similarity") else { continue }
            if let plan, let groups = taskGroups(builtOn: Set(rowSpec.runs), plan: plan, records: records, tasks: map.labels) {
                map.groups = groups.stages
                map.groupsNote = Self.groupsCaption(agreeing: groups.agreeing, runs: groups.runs)
            }
            let slug = unique("similarity-" + slugged(row.label), in: &slugs)
            figures.append(Figure(slug: slug, title: map.title, svg: map.svg))
        }
        return figures
    }

    /// Adapters that get no gradient by construction: in MTLoRA's layout (and FAAR's) the shared
    /// module on fc2 of the last block of the last stage, once that block splits into task
    /// streams, feeds nothing (the decoders read the task streams). MTLoRA's code has the same
    /// dead module and the engine keeps it; PDRS holds it at rank 1 from the first epoch end,
    /// which says nothing about the method, so the rank figures leave it out.
    static func untrainedAdapters(in names: some Collection<String>) -> Set<String> {
        // "layers.<stage>.blocks.<block>.<rest>" -> (stage, block)
        func position(_ name: String) -> (stage: Int, block: Int)? {
            let parts = name.split(separator: ".")
            guard parts.count > 4, parts[0] == "layers", parts[2] == "blocks", let stage = Int(parts[1]),
                  let block = Int(parts[3]) else { return nil }
            return (stage, block)
        }
        let positions = names.compactMap(position)
        guard let last = positions.max(by: { ($0.stage, $0.block) < ($1.stage, $1.block) }) else { return [] }
        let layer = "layers.\(last.stage).blocks.\(last.block).mlp.fc2"
        guard names.contains(layer + ".shared"), names.contains(where: { $0.hasPrefix(layer + ".task.") }) else { return [] }
        return [layer + ".shared"]
    }

    /// The caption's note when `untrainedAdapters` left one out.
    static let untrainedNote = "without the last block's shared fc2 adapter (no gradient in MTLoRA's layout)"

    /// The run with its ranks less `untrainedAdapters`.
    static func withoutUntrainedAdapters(_ run: RunMetrics) -> RunMetrics {
        guard let ranks = run.ranks else { return run }
        let left = untrainedAdapters(in: ranks.keys)
        guard !left.isEmpty else { return run }
        var kept = run
        kept.ranks = ranks.filter { !left.contains($0.key) }
        return kept
    }

    /// One line per row: at each epoch, the mean rank over the run's adapters, then over the row's runs.
    static func averageRanks(rows: [(label: String, runs: [RunMetrics])], title: String) -> LineChart? {
        perEpochMeans(rows: rows, title: title, yLabel: "average rank", perRun: averageRank)
    }

    /// A run's mean rank over its adapters at the end of each epoch.
    private static func averageRank(_ run: RunMetrics) -> [Double]? {
        guard let ranks = run.ranks?.sorted(by: { $0.key < $1.key }).map(\.value), !ranks.isEmpty else { return nil }
        let epochs = ranks.map(\.count).max() ?? 0
        return (0..<epochs).map { epoch in
            let values = ranks.compactMap { $0.indices.contains(epoch) ? Double($0[epoch]) : nil }
            return values.reduce(0, +) / Double(values.count)
        }
    }

    /// FAAR's supplementary Fig. 3: average rank, epoch time and forward GMACs per epoch, one
    /// panel each, one line per row (means over its runs). Needs some run that reports its
    /// GMACs per epoch; rows without ranks (no adapters, or an engine that does not log them)
    /// are missing from the rank panel only.
    static func costOverTraining(rows: [(label: String, runs: [RunMetrics])], title: String) -> StackedLineChart? {
        guard var gmacs = perEpochMeans(rows: rows, title: title, yLabel: "GMACs per image", perRun: \.epochGMACs),
              var seconds = epochTimes(rows: rows, title: title) else { return nil }
        seconds.yLabel = "epoch time (s)"
        // Zoomed in: the change is a few per cent of the total, as in the paper's figure.
        gmacs.yFromZero = false
        seconds.yFromZero = false
        let ranks = averageRanks(rows: rows, title: title)
        return StackedLineChart(title: title, xLabel: "epoch", panels: (ranks.map { [$0] } ?? []) + [seconds, gmacs])
    }

    /// One line per row: each epoch's wall time, the mean over the row's runs (FAAR's Fig. 3: time
    /// falls as PDRS shrinks the ranks).
    static func epochTimes(rows: [(label: String, runs: [RunMetrics])], title: String) -> LineChart? {
        perEpochMeans(rows: rows, title: title, yLabel: "seconds") { $0.epochSeconds.isEmpty ? nil : $0.epochSeconds }
    }

    /// One line per row: at each epoch, the mean over the row's runs of what `perRun` gives.
    private static func perEpochMeans(rows: [(label: String, runs: [RunMetrics])], title: String, yLabel: String,
                                      perRun: (RunMetrics) -> [Double]?) -> LineChart? {
        let series = rows.compactMap { row -> LineChart.Series? in
            let curves = row.runs.compactMap(perRun)
            guard let epochs = curves.map(\.count).max(), epochs > 0 else { return nil }
            let points = (0..<epochs).map { epoch in
                let values = curves.compactMap { $0.indices.contains(epoch) ? $0[epoch] : nil }
                return LineChart.Point(x: Double(epoch + 1), y: values.reduce(0, +) / Double(values.count))
            }
            return LineChart.Series(name: row.label, points: points)
        }
        guard !series.isEmpty else { return nil }
        return LineChart(title: title, xLabel: "epoch", yLabel: yLabel, series: series)
    }

    /// Every adapter's rank per epoch, coloured by its role: the last part of a dotted name
    /// ("stage4.block1.fc1.shared" -> "shared"), so shared and task adapters stand apart.
    static func adapterRanks(_ run: RunMetrics, title: String) -> LineChart? {
        guard let ranks = run.ranks, !ranks.isEmpty else { return nil }
        let series = ranks.keys.sorted().map { name in
            LineChart.Series(name: name, group: name.split(separator: ".").last.map(String.init) ?? name,
                             points: ranks[name]!.enumerated().map { .init(x: Double($0 + 1), y: Double($1)) })
        }
        return LineChart(title: title, xLabel: "epoch", yLabel: "rank", series: series)
    }

    /// Δm against what the rows vary (`TableSpec.xAxis`, each row at its `x`): mean ± std over
    /// seeds, the reference at 0 on the axis. MTLoRA's Fig. 2, Δm against the LoRA scale.
    static func deltaMAgainstX(_ table: Table, spec: TableSpec) -> LineChart? {
        guard let axis = spec.xAxis, let delta = table.columns.firstIndex(where: { $0.measure == .deltaM }) else { return nil }
        let points = zip(spec.rows, table.rows).compactMap { rowSpec, row -> LineChart.Point? in
            guard let x = rowSpec.x, let summary = row.cells[delta].measured else { return nil }
            return LineChart.Point(x: x, y: summary.mean, spread: summary.std)
        }.sorted { $0.x < $1.x }
        guard points.count > 1 else { return nil }
        var chart = LineChart(title: "\(table.columns[delta].header) against \(axis)",
                              subtitle: table.title + "; bars: ± std over seeds", xLabel: axis,
                              yLabel: table.columns[delta].header, series: [LineChart.Series(name: "ours", points: points)])
        chart.integralX = false
        return chart
    }

    /// Our rows' mean Δm against their mean trainable parameters, and the papers' where published.
    /// The trivial row trains nothing: at zero parameters and far below every method, it would
    /// only squash the chart.
    static func pareto(_ table: Table) -> ParetoChart? {
        guard let delta = table.columns.firstIndex(where: { $0.measure == .deltaM }),
              let params = table.columns.firstIndex(where: { $0.measure == .parameters(.trainable) }) else { return nil }
        var points: [ParetoChart.Point] = []
        for row in table.rows where row.label != table.trivialRow {
            if let y = row.cells[delta].measured?.mean, let x = row.cells[params].measured?.mean {
                points.append(.init(label: row.label, x: x, y: y))
            }
        }
        guard !points.isEmpty else { return nil }
        for row in table.rows {
            if let y = row.cells[delta].paper?.value, let x = row.cells[params].paper?.value {
                points.append(.init(label: row.label, x: x, y: y, fromPaper: true))
            }
        }
        return ParetoChart(title: "Δm against trainable parameters", subtitle: table.title,
                           xLabel: table.columns[params].header, yLabel: table.columns[delta].header, points: points)
    }

    /// The mean over runs of their `TaskSimilarityEntry`s (`extra["similarity.<a>.<b>"]`); tasks in sorted order, the diagonal 1
    /// unless reported, a missing pair taken from its mirror.
    static func similarity(_ extras: [[String: Double]], title: String) -> HeatMap? {
        var sums: [String: [String: (Double, Int)]] = [:]
        for extra in extras {
            for entry in TaskSimilarityEntry.entries(in: extra) {
                let (sum, count) = sums[entry.a, default: [:]][entry.b] ?? (0, 0)
                sums[entry.a, default: [:]][entry.b] = (sum + entry.value, count + 1)
            }
        }
        guard !sums.isEmpty else { return nil }
        let tasks = Set(sums.keys).union(sums.values.flatMap(\.keys)).sorted()
        func mean(_ a: String, _ b: String) -> Double? { sums[a]?[b].map { $0.0 / Double($0.1) } }
        let values = tasks.map { a in
            tasks.map { b in mean(a, b) ?? mean(b, a) ?? (a == b ? 1 : .nan) }
        }
        return HeatMap(title: title, labels: tasks, values: values)
    }

    /// The task groups per stage of the succeeded runs that need one of `sources` (TGLoRA's runs
    /// on a similarity run), from their `TaskGroupEntry`s (`extra["groups.stage<k>.<task>"]`): for each stage, each
    /// task's group index, tasks in `tasks`' order. Runs that swap tasks or set other group
    /// counts group differently; the grouping most runs share is shown, the first in plan order
    /// on a tie, with how many runs share it.
    static func taskGroups(builtOn sources: Set<RunID>, plan: Plan, records: [RunID: RunRecord], tasks: [String])
        -> (stages: [[Int]], agreeing: Int, runs: Int)? {
        var groupings: [[[Int]]] = []
        for run in plan.runs where run.needs.values.contains(where: sources.contains) {
            guard let extra = records[run.id]?.succeededMetrics?.extra else { continue }
            let stages = TaskGroupEntry.stages(in: extra)
            let grouping = stages.keys.sorted().compactMap { stage -> [Int]? in
                let byTask = stages[stage]!
                let indices = tasks.compactMap { byTask[$0] }
                return indices.count == tasks.count ? indices : nil
            }
            if !grouping.isEmpty, grouping.count == stages.count { groupings.append(grouping) }
        }
        var counts: [[[Int]]: Int] = [:]
        for grouping in groupings { counts[grouping, default: 0] += 1 }
        guard let top = counts.values.max(), let first = groupings.first(where: { counts[$0] == top }) else { return nil }
        return (first, top, groupings.count)
    }

    /// How to read the groups block, and whose groups they are: the runs that take their groups
    /// from this similarity may group otherwise (swapped groups, other group counts).
    static func groupsCaption(agreeing: Int, runs: Int) -> [String] {
        let whose = agreeing == runs
            ? (runs == 1 ? "The one run that groups by this similarity" : "All \(runs) runs that group by this similarity")
                + " build these groups."
            : "\(agreeing) of the \(runs) runs that group by this similarity build these;"
        var lines = ["Each column a stage of the backbone; a letter is a group:",
                     "tasks with the same letter share adapters there.", whose]
        if agreeing != runs { lines.append("the others swap groups or use other group counts.") }
        return lines
    }

    static func slugged(_ label: String) -> String {
        var slug = ""
        for character in label.lowercased() {
            if character.isASCII && (character.isLetter || character.isNumber) {
                slug.append(character)
            } else if !slug.isEmpty, !slug.hasSuffix("-") {
                slug.append("-")
            }
        }
        while slug.hasSuffix("-") { slug.removeLast() }
        return slug.isEmpty ? "row" : slug
    }

    private static func unique(_ slug: String, in taken: inout Set<String>) -> String {
        var candidate = slug, index = 2
        while taken.contains(candidate) { candidate = "\(slug)-\(index)"; index += 1 }
        taken.insert(candidate)
        return candidate
    }
}
