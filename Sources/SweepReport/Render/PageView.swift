import Foundation
import RunContract
import SweepCore

/// What `Templates/page.html.mustache` sees: the sweep's tables (each already rendered by its
/// layout's HTML template), their figures as inline SVG, the runs behind every row, and the
/// training curves of each run group. Text stays raw: the template escapes it; SVG and table
/// HTML go in as they are (`{{{svg}}}`, `{{{html}}}`). Swift-mustache reads stored properties
/// only, so every flag a template tests is stored.
struct PageView {
    var title: String
    var manifest: String?
    var summary: String
    var tables: [PageTable]
    var groups: [CurveGroup]
    var hasCurves: Bool
    /// Why no curves are drawn, when none are.
    var curvesNote: String?

    struct PageTable {
        var name: String
        var title: String
        var html: String
        var figures: [PageFigure]
        var hasFigures: Bool
        var runs: [RunLine]
        var hasRuns: Bool
    }

    struct PageFigure {
        var title: String
        /// The figure's own file beside the page, when it has one.
        var file: String?
        var svg: String
    }

    /// One run behind a table row.
    struct RunLine {
        var row: String
        var anchor: String
        /// The row's first run carries the row's label, spanning the row's `rowRuns` lines.
        var leads: Bool
        var rowRuns: Int
        var id: String
        /// What sets the run apart within its row beyond the seed (a single-task row's task).
        var axes: String
        var seed: Int
        var state: String
        /// Wall time of its last attempt; empty when it has not finished one.
        var time: String
        /// Its run directory, relative to the page when they share a root; nil when it has none
        /// yet (a run not started).
        var link: String?
    }

    struct CurveGroup {
        var name: String
        var anchor: String
        var summary: String
        var charts: [PageFigure]
        /// Curves too flat to draw (a run that trains nothing): one value for every epoch of every run.
        var flat: [String]
    }
}

extension PageView.PageTable {
    /// `html`: the table through its layout's HTML template; `figures`: each with its file's name.
    /// `folder`: where the page is written (links to run directories are relative to it);
    /// `workspace`: where the run directories are, nil for none (no links).
    init(_ table: Table, spec: TableSpec, html: String, figures: [(Figure, file: String)], plan: Plan,
         records: [RunID: RunRecord], workspace: Workspace?, folder: URL) {
        name = table.name
        title = table.title
        self.html = html
        self.figures = figures.map { PageView.PageFigure(title: $0.0.title, file: $0.file, svg: $0.0.svg) }
        hasFigures = !figures.isEmpty
        runs = PageView.runLines(table, spec: spec, plan: plan, records: records, workspace: workspace, folder: folder)
        hasRuns = !runs.isEmpty
    }
}

extension PageView {
    /// `workspace`: where the run directories are, nil for none (no curves).
    init(plan: Plan, title: String, tables: [PageTable], records: [RunID: RunRecord], workspace: Workspace?) {
        self.title = title
        manifest = plan.manifest?.lastPathComponent
        summary = Self.summary(plan: plan, records: records)
        self.tables = tables
        groups = workspace.map { Self.curveGroups(plan: plan, records: records, workspace: $0) } ?? []
        hasCurves = !groups.isEmpty
        curvesNote = hasCurves ? nil : workspace == nil
            ? "No workspace was given, so no run's progress.jsonl was read."
            : "No run has recorded a finished epoch in its progress.jsonl yet."
    }

    /// "40 runs: 38 succeeded, 2 failed; engine 0.5.0; OpenBLAS core Haswell".
    static func summary(plan: Plan, records: [RunID: RunRecord]) -> String {
        var counts: [RunStatus: Int] = [:]
        for run in plan.runs { counts[records[run.id]?.status ?? .planned, default: 0] += 1 }
        let states = RunStatus.allCases.compactMap { status in counts[status].map { "\($0) \(status.rawValue)" } }
        var text = "\(plan.runs.count) run\(plan.runs.count == 1 ? "" : "s")" + (states.isEmpty ? "" : ": " + states.joined(separator: ", "))
        let finished = plan.runs.compactMap { records[$0.id]?.succeededMetrics }
        let versions = Set(finished.map(\.engineVersion)).sorted()
        if !versions.isEmpty { text += "; engine " + versions.joined(separator: ", ") }
        let cores = Set(finished.compactMap(\.numerics?.blasCore)).sorted()
        if !cores.isEmpty { text += "; OpenBLAS core " + cores.joined(separator: ", ") }
        return text
    }

    /// The runs behind each measured row of `table`, in the row's order.
    static func runLines(_ table: Table, spec: TableSpec, plan: Plan, records: [RunID: RunRecord],
                         workspace: Workspace?, folder: URL) -> [RunLine] {
        var lines: [RunLine] = []
        for (index, (row, rowSpec)) in zip(table.rows, spec.rows).enumerated() where !row.paperOnly {
            var seen: Set<RunID> = []
            let ids = rowSpec.runs.filter { seen.insert($0).inserted }
            for (position, id) in ids.enumerated() {
                let run = plan.run(id), record = records[id]
                lines.append(RunLine(
                    row: row.label, anchor: TableView.runsAnchor(table: table.name, row: index),
                    leads: position == 0, rowRuns: ids.count, id: id.rawValue,
                    axes: run.map { axesText($0.axes) } ?? "", seed: run?.seed ?? 0,
                    state: (record?.status ?? .planned).rawValue, time: record.flatMap(wallTime) ?? "",
                    link: workspace.map { $0.runDirectory(id) }
                        .flatMap { FileManager.default.fileExists(atPath: $0.path) ? relativeLink(from: folder, to: $0) : nil }))
            }
        }
        return lines
    }

    /// The training curves of every run group of the plan that has some, groups in plan order.
    static func curveGroups(plan: Plan, records: [RunID: RunRecord], workspace: Workspace) -> [CurveGroup] {
        var order: [String] = []
        var members: [String: [PlannedRun]] = [:]
        for run in plan.runs {
            if members[run.group] == nil { order.append(run.group) }
            members[run.group, default: []].append(run)
        }
        var anchors: Set<String> = []
        return order.compactMap { group in
            let runs = members[group]!.map { run -> CurveCharts.Run in
                let legend = run.label ?? (run.axes.isEmpty ? group : axesText(run.axes))
                let state = (records[run.id]?.status ?? .planned).rawValue
                return CurveCharts.Run(id: run.id.rawValue, legend: legend,
                                       tooltip: "\(run.id) · \(legend) · seed \(run.seed) · \(state)",
                                       curves: RunCurves(runDirectory: workspace.runDirectory(run.id)))
            }
            let drawn = runs.filter { !$0.curves.isEmpty }.count
            let charts = CurveCharts.charts(runs, subtitle: "group \(group): one line per run")
            guard !charts.isEmpty else { return nil }
            var anchor = "curves-" + Figures.slugged(group), suffix = 2
            while !anchors.insert(anchor).inserted { anchor = "curves-\(Figures.slugged(group))-\(suffix)"; suffix += 1 }
            var figures: [PageFigure] = [], flat: [String] = []
            for chart in charts {
                let values = Set(chart.series.flatMap { $0.points.map(\.y) })
                if values.count == 1, let value = values.first {
                    flat.append("\(chart.title): \(String(format: "%.4g", value)) at every epoch of every run.")
                } else {
                    figures.append(PageFigure(title: chart.title, file: nil, svg: chart.svg))
                }
            }
            return CurveGroup(name: group, anchor: anchor,
                              summary: "\(drawn) of \(runs.count) runs have recorded epochs.",
                              charts: figures, flat: flat)
        }
    }

    /// "task=semseg, rank=16": the grid axes that made a run, sorted by name.
    static func axesText(_ axes: [String: JSONValue]) -> String {
        axes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }

    /// The last attempt's wall time, when it has ended.
    static func wallTime(_ record: RunRecord) -> String? {
        guard record.status != .running, let started = record.startedAt, let finished = record.finishedAt,
              finished >= started else { return nil }
        return DurationText.of(finished.timeIntervalSince(started))
    }

    /// `target` (a directory) relative to `folder` ("../../.sweep/runs/3fa2c1d0e8b7a6c5/"), or its
    /// file URL when the two share nothing below the root.
    static func relativeLink(from folder: URL, to target: URL) -> String {
        let from = folder.standardizedFileURL.pathComponents, to = target.standardizedFileURL.pathComponents
        var common = 0
        while common < min(from.count, to.count), from[common] == to[common] { common += 1 }
        guard common > 1 else {
            let url = target.standardizedFileURL.absoluteString
            return url.hasSuffix("/") ? url : url + "/"
        }
        let parts = Array(repeating: "..", count: from.count - common) + to[common...]
        return parts.map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? $0 }
            .joined(separator: "/") + "/"
    }
}
