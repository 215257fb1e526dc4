import Foundation

/// Line charts of training curves, one line per run: the loss, each task's metric where recorded,
/// and the mean adapter rank where runs log ranks (PDRS). Each line carries its run's id, so a
/// page can highlight one run in every chart.
public enum CurveCharts {
    /// A run's curves and how it is named: `legend` is its colour and legend entry (a table row,
    /// a grid point); `tooltip` names the run itself.
    public struct Run: Sendable {
        public var id: String
        public var legend: String
        public var tooltip: String
        public var curves: RunCurves

        public init(id: String, legend: String, tooltip: String, curves: RunCurves) {
            self.id = id; self.legend = legend; self.tooltip = tooltip; self.curves = curves
        }
    }

    /// The charts the runs' curves give, in a fixed order: loss, then each task's metric, then
    /// ranks. Runs without curves are left out; no run with curves gives no chart.
    public static func charts(_ runs: [Run], subtitle: String?) -> [LineChart] {
        let runs = runs.filter { !$0.curves.isEmpty }
        guard !runs.isEmpty else { return [] }
        var charts: [LineChart] = []
        func chart(_ title: String, yLabel: String, fromZero: Bool, value: (RunCurves.EpochEnd) -> Double?) {
            let series = runs.compactMap { run -> LineChart.Series? in
                let points = run.curves.series(value).map { LineChart.Point(x: Double($0.epoch), y: $0.value) }
                guard !points.isEmpty else { return nil }
                return LineChart.Series(name: run.id, group: run.legend, points: points, run: run.id, tooltip: run.tooltip)
            }
            guard !series.isEmpty else { return }
            var chart = LineChart(title: title, subtitle: subtitle, xLabel: "epoch", yLabel: yLabel, series: series)
            // A flat curve (a run that trains nothing) needs an axis around its value, not a zoom into it.
            chart.yFromZero = fromZero || Set(series.flatMap { $0.points.map(\.y) }).count == 1
            charts.append(chart)
        }
        chart("Training loss per epoch (mean over the epoch)", yLabel: "loss", fromZero: false) { $0.loss }
        for task in Set(runs.flatMap(\.curves.tasks)).sorted() {
            chart("\(task) per epoch", yLabel: task, fromZero: false) { $0.metrics[task] }
        }
        if runs.contains(where: \.curves.hasRanks) {
            chart("Average adapter rank per epoch", yLabel: "average rank", fromZero: true) { $0.meanRank }
        }
        return charts
    }

    /// One run's charts stacked over one epoch axis (`sweep show RUN --svg FILE`).
    public static func stacked(_ run: Run, title: String) -> StackedLineChart? {
        let panels = charts([run], subtitle: nil)
        guard !panels.isEmpty else { return nil }
        return StackedLineChart(title: title, subtitle: run.tooltip, xLabel: "epoch", panels: panels)
    }
}
