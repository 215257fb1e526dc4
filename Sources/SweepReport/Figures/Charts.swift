import Foundation

/// The plotting area of a chart with two numeric axes: title, axes, ticks, grid and labels. The
/// plot is always 460 wide; the canvas grows to the right and downwards to fit the legend.
struct PlotFrame {
    var title: String
    var subtitle: String?
    var xLabel: String
    var yLabel: String
    var x: Axis
    var y: Axis
    static let plotWidth = 460.0
    let left = 70.0
    /// Room on the right for a legend.
    var right = 190.0
    var plotTop = 58.0
    var plotBottom = 384.0
    var height = 440.0

    var width: Double { left + Self.plotWidth + right }
    var plotLeft: Double { left }
    var plotRight: Double { left + Self.plotWidth }

    func px(_ value: Double) -> Double { x.scale(value, from: plotLeft, to: plotRight) }
    func py(_ value: Double) -> Double { y.scale(value, from: plotBottom, to: plotTop) }

    /// Widens and lengthens the canvas so a legend of `labels`, one per line, fits beside the plot.
    mutating func fitLegend(_ labels: [String]) {
        let longest = Double(labels.map(\.count).max() ?? 0)
        right = max(right, 16 + 26 + longest * 12 * 0.6 + 8)
        height = max(height, plotTop + 10 + Double(labels.count) * Self.legendLine + 10)
    }

    func canvas() -> SVGCanvas {
        var canvas = SVGCanvas(width: width, height: height)
        drawTitle(on: &canvas)
        drawAxes(on: &canvas)
        return canvas
    }

    func drawTitle(on canvas: inout SVGCanvas) {
        canvas.text(title, width / 2, 22, size: 15, anchor: .middle, weight: "bold")
        if let subtitle { canvas.text(subtitle, width / 2, 40, size: 12, anchor: .middle, fill: "#555") }
    }

    /// Grid, ticks and axis labels; `xTicks` false leaves the x tick labels and the x label to a
    /// panel below that shares the axis.
    func drawAxes(on canvas: inout SVGCanvas, xTicks: Bool = true) {
        for tick in x.ticks {
            canvas.line(px(tick), plotTop, px(tick), plotBottom, stroke: "#e5e5e5")
            canvas.line(px(tick), plotBottom, px(tick), plotBottom + 5)
            if xTicks { canvas.text(x.label(tick), px(tick), plotBottom + 19, size: 11, anchor: .middle) }
        }
        for tick in y.ticks {
            canvas.line(plotLeft, py(tick), plotRight, py(tick), stroke: "#e5e5e5")
            canvas.line(plotLeft - 5, py(tick), plotLeft, py(tick))
            canvas.text(y.label(tick), plotLeft - 8, py(tick) + 4, size: 11, anchor: .end)
        }
        canvas.line(plotLeft, plotBottom, plotRight, plotBottom)
        canvas.line(plotLeft, plotTop, plotLeft, plotBottom)
        if xTicks { canvas.text(xLabel, (plotLeft + plotRight) / 2, plotBottom + 42, size: 13, anchor: .middle) }
        canvas.text(yLabel, 18, (plotTop + plotBottom) / 2, size: 13, anchor: .middle, rotation: -90)
    }

    static let legendLine = 20.0

    /// A legend at the right of the plot, one entry per line; `marker` draws entry i's symbol.
    func legend(_ labels: [String], on canvas: inout SVGCanvas, marker: (inout SVGCanvas, Int, Double, Double) -> Void) {
        let x = plotRight + 16
        for (index, label) in labels.enumerated() {
            let y = plotTop + 10 + Double(index) * Self.legendLine
            marker(&canvas, index, x, y)
            canvas.text(label, x + 26, y + 4, size: 12)
        }
    }
}

/// Lines over epochs, one per series; series that share a group share a colour and one legend entry.
public struct LineChart: Sendable {
    public struct Series: Sendable, Equatable {
        public var name: String
        /// Legend entry and colour; the series' name when nil.
        public var group: String?
        public var points: [Point]
        /// The run the line belongs to: drawn as a group that names it (`data-run`) and shows
        /// `tooltip` on hover, so a page can highlight the run. nil: a plain line.
        public var run: String?
        public var tooltip: String?

        public init(name: String, group: String? = nil, points: [Point], run: String? = nil, tooltip: String? = nil) {
            self.name = name; self.group = group; self.points = points; self.run = run; self.tooltip = tooltip
        }

        var legendGroup: String { group ?? name }
    }

    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double
        /// Drawn as an error bar y ± spread (the std over seeds); nil: none.
        public var spread: Double?
        public init(x: Double, y: Double, spread: Double? = nil) { self.x = x; self.y = y; self.spread = spread }
    }

    public var title: String
    public var subtitle: String?
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// The y axis starts at 0 (ranks, times); false zooms in on the values' range.
    public var yFromZero = true
    /// The x axis steps by whole numbers (epochs); false for a configuration value (ρ = 0.95).
    public var integralX = true

    public init(title: String, subtitle: String? = nil, xLabel: String, yLabel: String, series: [Series]) {
        self.title = title; self.subtitle = subtitle; self.xLabel = xLabel; self.yLabel = yLabel
        self.series = series
    }

    /// Legends longer than this would cover the plot; the groups are then named in the title only by count.
    static let legendLimit = 16

    /// The legend's entries in first-seen order; their index is their colour.
    var groups: [String] {
        var groups: [String] = []
        for series in series where !groups.contains(series.legendGroup) { groups.append(series.legendGroup) }
        return groups
    }

    func frame() -> PlotFrame {
        let points = series.flatMap(\.points)
        // The error bars' ends must fit too.
        let ys = points.flatMap { point in [point.y] + (point.spread.map { [point.y - $0, point.y + $0] } ?? []) }
        return PlotFrame(title: title, subtitle: subtitle, xLabel: xLabel, yLabel: yLabel,
                         x: Axis(values: points.map(\.x), integral: integralX, targetTicks: 8),
                         y: Axis(values: ys, includeZero: yFromZero, padded: true))
    }

    public var svg: String {
        var frame = frame()
        let groups = groups
        if groups.count <= Self.legendLimit { frame.fitLegend(groups) }
        var canvas = frame.canvas()
        drawLines(in: frame, colors: groups, on: &canvas)
        if groups.count <= Self.legendLimit {
            Self.lineLegend(groups, in: frame, on: &canvas)
        } else {
            canvas.text("\(groups.count) series", frame.plotRight + 16, frame.plotTop + 14, size: 12)
        }
        return canvas.document
    }

    /// Each series as a line in its group's colour (the group's index in `colors`).
    func drawLines(in frame: PlotFrame, colors: [String], on canvas: inout SVGCanvas) {
        // Many thin lines (every adapter of a model) stay readable when they are translucent.
        let crowded = series.count > Self.legendLimit
        for series in series {
            let color = Palette.color(colors.firstIndex(of: series.legendGroup) ?? 0)
            let coordinates = series.points.map { (frame.px($0.x), frame.py($0.y)) }
            if let run = series.run {
                canvas.beginGroup(class: "run", run: run, title: series.tooltip)
                // An invisible wide stroke: a thin line is hard to hover.
                canvas.polyline(coordinates, stroke: color, width: 8, opacity: 0)
            }
            defer { if series.run != nil { canvas.endGroup() } }
            canvas.polyline(coordinates, stroke: color, width: crowded ? 1 : 2, opacity: crowded ? 0.55 : 1)
            if !crowded, coordinates.count <= 60 {
                for (x, y) in coordinates { canvas.circle(x, y, radius: 2.5, fill: color, stroke: color) }
            }
            for point in series.points {
                guard let spread = point.spread, spread > 0 else { continue }
                let (x, low, high) = (frame.px(point.x), frame.py(point.y - spread), frame.py(point.y + spread))
                canvas.line(x, low, x, high, stroke: color, width: 1.2)
                canvas.line(x - 4, low, x + 4, low, stroke: color, width: 1.2)
                canvas.line(x - 4, high, x + 4, high, stroke: color, width: 1.2)
            }
        }
    }

    static func lineLegend(_ groups: [String], in frame: PlotFrame, on canvas: inout SVGCanvas) {
        frame.legend(groups, on: &canvas) { canvas, index, x, y in
            canvas.line(x, y, x + 20, y, stroke: Palette.color(index), width: 2.5)
        }
    }
}

/// Line charts stacked over one shared x axis, one legend for all: several quantities of the
/// same runs over epochs (FAAR's rank, epoch time and GMACs). A series keeps its colour in
/// every panel, even where it is missing from some.
public struct StackedLineChart: Sendable {
    public var title: String
    public var subtitle: String?
    public var xLabel: String
    /// Each panel's own y label and series; their titles are not drawn.
    public var panels: [LineChart]

    public init(title: String, subtitle: String? = nil, xLabel: String, panels: [LineChart]) {
        self.title = title; self.subtitle = subtitle; self.xLabel = xLabel; self.panels = panels
    }

    static let panelHeight = 130.0, gap = 26.0

    public var svg: String {
        var groups: [String] = []
        for group in panels.flatMap(\.groups) where !groups.contains(group) { groups.append(group) }
        let xs = panels.flatMap { $0.series.flatMap { $0.points.map(\.x) } }
        let xAxis = Axis(values: xs, integral: true, targetTicks: 8)
        var frames = panels.enumerated().map { index, panel in
            var frame = panel.frame()
            frame.x = xAxis
            frame.plotTop = 58 + Double(index) * (Self.panelHeight + Self.gap)
            frame.plotBottom = frame.plotTop + Self.panelHeight
            return frame
        }
        guard var page = frames.last else { return SVGCanvas(width: 1, height: 1).document }
        page.title = title
        page.subtitle = subtitle
        page.xLabel = xLabel
        page.plotTop = 58
        page.height = page.plotBottom + 56
        page.fitLegend(groups)
        for index in frames.indices { frames[index].right = page.right }
        var canvas = SVGCanvas(width: page.width, height: page.height)
        page.drawTitle(on: &canvas)
        for (index, (panel, frame)) in zip(panels, frames).enumerated() {
            var frame = frame
            frame.xLabel = xLabel
            frame.drawAxes(on: &canvas, xTicks: index == frames.count - 1)
            panel.drawLines(in: frame, colors: groups, on: &canvas)
        }
        LineChart.lineLegend(groups, in: page, on: &canvas)
        return canvas.document
    }
}

/// Labelled points, ours filled and the papers' hollow, with the Pareto front of our points:
/// fewer parameters and higher Δm are better.
///
/// Parameter counts that span a decade or more (a full fine-tuning beside adapters) get a
/// logarithmic x axis; otherwise it starts at 0. Each label goes to a free spot beside its
/// point; when some label finds none, every point is numbered instead and the legend names them.
public struct ParetoChart: Sendable {
    public struct Point: Sendable, Equatable {
        public var label: String
        public var x: Double
        public var y: Double
        public var fromPaper: Bool
        public init(label: String, x: Double, y: Double, fromPaper: Bool = false) {
            self.label = label; self.x = x; self.y = y; self.fromPaper = fromPaper
        }
    }

    public var title: String
    public var subtitle: String?
    public var xLabel: String
    public var yLabel: String
    public var points: [Point]

    public init(title: String, subtitle: String? = nil, xLabel: String, yLabel: String, points: [Point]) {
        self.title = title; self.subtitle = subtitle; self.xLabel = xLabel; self.yLabel = yLabel
        self.points = points
    }

    /// Points no other point beats on both axes (x lower or equal, y higher or equal, one strictly),
    /// ordered by x.
    public static func front(_ points: [Point]) -> [Point] {
        points.filter { point in
            !points.contains { other in
                other.x <= point.x && other.y >= point.y && (other.x < point.x || other.y > point.y)
            }
        }.sorted { ($0.x, -$0.y) < ($1.x, -$1.y) }
    }

    /// Largest over smallest parameter count from which the x axis is logarithmic.
    static let logarithmicSpan = 10.0

    var xAxis: Axis {
        let xs = points.map(\.x)
        if let low = xs.min(), low > 0, let high = xs.max(), high / low >= Self.logarithmicSpan {
            return Axis(logarithmicValues: xs)
        }
        return Axis(values: xs, includeZero: true, padded: true)
    }

    /// Δm with 0 (the reference) in range and room on both sides, so no point sits on the frame.
    var yAxis: Axis { Axis(values: points.map(\.y) + [0], padded: true) }

    static let markerRadius = 4.5, labelSize = 11.0

    /// The rows in order of first appearance: a row's number in the numbered key. Our point and
    /// the paper's of one row share it, so the key names each row once.
    var rows: [String] {
        var rows: [String] = []
        for point in points where !rows.contains(point.label) { rows.append(point.label) }
        return rows
    }

    /// Where each point's label goes: its own label beside it, or (when some label finds no free
    /// spot) its row's number, the legend naming it. A number with no free spot sits above right anyway.
    func labels(in frame: PlotFrame) -> (numbered: Bool, spots: [(text: String, spot: LabelPlacement.Spot)]) {
        let centres = points.map { (frame.px($0.x), frame.py($0.y)) }
        func placeAll(_ texts: [String]) -> [(String, LabelPlacement.Spot?)] {
            var placement = placement(in: frame)
            return zip(texts, centres).map { text, centre in (text, placement.place(text, x: centre.0, y: centre.1)) }
        }
        let named = placeAll(points.map(\.label))
        if named.allSatisfy({ $0.1 != nil }) { return (false, named.map { ($0.0, $0.1!) }) }
        let rows = rows
        let numbered = placeAll(points.map { String(rows.firstIndex(of: $0.label)! + 1) })
        return (true, zip(numbered, centres).map { entry, centre in
            (entry.0, entry.1 ?? LabelPlacement.Spot(x: centre.0 + 6, y: centre.1 - 6, anchor: .start))
        })
    }

    /// Labels stay inside the plot, off every marker and off the Pareto front's line.
    private func placement(in frame: PlotFrame) -> LabelPlacement {
        var placement = LabelPlacement(
            bounds: .init(left: frame.plotLeft + 2, top: frame.plotTop, right: frame.plotRight - 2, bottom: frame.plotBottom - 2),
            markers: points.map { (frame.px($0.x), frame.py($0.y)) }, radius: Self.markerRadius + 1,
            fontSize: Self.labelSize)
        let front = Self.front(points.filter { !$0.fromPaper }).map { (frame.px($0.x), frame.py($0.y)) }
        for (from, to) in zip(front, front.dropFirst()) { placement.avoid(from, to) }
        return placement
    }

    public var svg: String {
        var frame = PlotFrame(title: title, subtitle: subtitle, xLabel: xLabel, yLabel: yLabel,
                              x: xAxis, y: yAxis)
        let hasPaper = points.contains(where: \.fromPaper)
        let kinds = ["ours (line: Pareto front)"] + (hasPaper ? ["paper"] : [])
        let rows = rows
        let key = rows.enumerated().map { "\($0 + 1)  \($1)" }
        var (numbered, spots) = labels(in: frame)
        if numbered {
            // A long key makes the canvas taller; the plot takes that height too, spreading the points.
            let key = kinds + key
            let extra = frame.plotTop + 10 + Double(key.count) * PlotFrame.legendLine + 10 - frame.height
            if extra > 0 {
                frame.plotBottom += extra
                frame.height += extra
                (numbered, spots) = labels(in: frame)
            }
        }
        let entries = kinds + (numbered ? key : [])
        frame.fitLegend(entries)
        var canvas = frame.canvas()
        if frame.y.lower < 0 {
            canvas.line(frame.plotLeft, frame.py(0), frame.plotRight, frame.py(0), stroke: "#999", dash: "4 3")
        }
        let front = Self.front(points.filter { !$0.fromPaper })
        if front.count > 1 {
            canvas.polyline(front.map { (frame.px($0.x), frame.py($0.y)) }, stroke: Palette.color(0), width: 1.5)
        }
        for point in points {
            Self.marker(point.fromPaper, at: frame.px(point.x), frame.py(point.y), on: &canvas)
        }
        let geometry = placement(in: frame)
        for ((text, spot), point) in zip(spots, points) {
            if spot.ring > 0 {
                let leader = geometry.leader(for: text, at: spot, from: frame.px(point.x), frame.py(point.y),
                                             radius: Self.markerRadius + 1)
                canvas.line(leader.x1, leader.y1, leader.x2, leader.y2, stroke: "#999", width: 0.75)
            }
            canvas.text(text, spot.x, spot.y, size: Self.labelSize, anchor: spot.anchor,
                        fill: point.fromPaper ? "#8a3b00" : "#000")
        }
        // Each key entry shows its row's markers: ours filled, the paper's hollow, or both.
        let markers: [[Bool]] = [[false]] + (hasPaper ? [[true]] : [])
            + (numbered ? rows.map { row in [false, true].filter { kind in points.contains { $0.label == row && $0.fromPaper == kind } } } : [])
        frame.legend(entries, on: &canvas) { canvas, index, x, y in
            let kinds = markers[index]
            for (offset, fromPaper) in kinds.enumerated() {
                Self.marker(fromPaper, at: x + 10 + (kinds.count == 2 ? Double(offset) * 10 - 5 : 0), y, on: &canvas)
            }
        }
        return canvas.document
    }

    private static func marker(_ fromPaper: Bool, at x: Double, _ y: Double, on canvas: inout SVGCanvas) {
        let color = fromPaper ? Palette.color(1) : Palette.color(0)
        canvas.circle(x, y, radius: markerRadius, fill: fromPaper ? "#fff" : color, stroke: color)
    }
}

/// A labelled square matrix (task similarity): one coloured cell per entry with its value
/// written in, on a diverging scale from -1 (blue) through 0 (white) to +1 (red).
///
/// With `groups` (TGLoRA), a block beside it shows how the tasks are grouped at each stage: one
/// column per stage, each task's cell in its group's colour and letter, so the groups splitting
/// stage by stage read like the paper's tree.
public struct HeatMap: Sendable {
    public var title: String
    public var labels: [String]
    public var values: [[Double]]
    /// For each stage, each label's group index (0-based).
    public var groups: [[Int]]?
    /// Where the groups come from, printed under them, one line each.
    public var groupsNote: [String] = []

    public init(title: String, labels: [String], values: [[Double]]) {
        self.title = title; self.labels = labels; self.values = values
    }

    /// A, B, C, ... for groups 0, 1, 2, ...
    static func groupLetter(_ index: Int) -> String {
        index < 26 ? String(UnicodeScalar(UInt8(65 + index))) : String(index + 1)
    }

    /// White at 0, saturating at ±1: a cosine similarity is on that scale.
    static func color(_ value: Double) -> String {
        let t = max(-1, min(1, value))
        let (r, g, b): (Double, Double, Double) = t >= 0
            ? (255 - t * (255 - 178), 255 - t * (255 - 24), 255 - t * (255 - 43))
            : (255 + t * (255 - 33), 255 + t * (255 - 102), 255 + t * (255 - 172))
        return String(format: "#%02X%02X%02X", Int(r.rounded()), Int(g.rounded()), Int(b.rounded()))
    }

    public var svg: String {
        let cell = 64.0, left = 130.0, top = 60.0
        let size = Double(labels.count) * cell
        let longest = Double(labels.map(\.count).max() ?? 0) * 7
        let groupsX = left + size + 100, stageWidth = 52.0
        // The grid repeats the task names on its right: the heat map's are a plot's width away.
        let noteWidth = Double(groupsNote.map(\.count).max() ?? 0) * 6.5
        let groupsWidth = groups.map { max(Double($0.count) * stageWidth + 12 + longest, noteWidth) + 20 } ?? 0
        let noteHeight = groups == nil ? 0 : Double(groupsNote.count) * 15
        var canvas = SVGCanvas(width: left + size + 110 + groupsWidth,
                               height: top + size + max(longest * 0.7, noteHeight + 8) + 30)
        canvas.text(title, left + size / 2, 28, size: 15, anchor: .middle, weight: "bold")
        for (row, rowValues) in values.enumerated() {
            for (column, value) in rowValues.enumerated() {
                let x = left + Double(column) * cell, y = top + Double(row) * cell
                // NaN: a pair no run reported.
                canvas.rect(x, y, cell, cell, fill: value.isNaN ? "#DDDDDD" : Self.color(value), stroke: "#fff")
                canvas.text(value.isNaN ? "—" : NumberFormat.fixed(value, precision: 2), x + cell / 2, y + cell / 2 + 4,
                            size: 12, anchor: .middle, fill: abs(value) > 0.6 ? "#fff" : "#000")
            }
        }
        for (index, label) in labels.enumerated() {
            let middle = Double(index) * cell + cell / 2
            canvas.text(label, left - 8, top + middle + 4, size: 12, anchor: .end)
            // Slanted, so long task names do not run into each other.
            canvas.text(label, left + middle + 4, top + size + 14, size: 12, anchor: .end, rotation: -40)
        }
        // Colour bar.
        let barX = left + size + 30
        for step in 0..<20 {
            let value = 1 - Double(step) / 19 * 2
            canvas.rect(barX, top + Double(step) * size / 20, 16, size / 20 + 0.5, fill: Self.color(value))
        }
        for value in [1.0, 0, -1] {
            canvas.text(NumberFormat.fixed(value, precision: 0, signed: true), barX + 22,
                        top + (1 - value) / 2 * size + 4, size: 11)
        }
        if let groups {
            let block = Double(groups.count) * stageWidth
            canvas.text("groups per stage", groupsX + block / 2, top - 26, size: 12, anchor: .middle, weight: "bold")
            for (stage, indices) in groups.enumerated() {
                let x = groupsX + Double(stage) * stageWidth
                canvas.text("stage \(stage + 1)", x + stageWidth / 2, top - 8, size: 11, anchor: .middle)
                for (row, group) in indices.enumerated() {
                    let y = top + Double(row) * cell
                    canvas.rect(x + 6, y + 6, stageWidth - 12, cell - 12, fill: Palette.color(group))
                    canvas.text(Self.groupLetter(group), x + stageWidth / 2, y + cell / 2 + 5, size: 14,
                                anchor: .middle, weight: "bold", fill: "#fff")
                }
            }
            for (index, label) in labels.enumerated() {
                canvas.text(label, groupsX + block + 8, top + Double(index) * cell + cell / 2 + 4, size: 12)
            }
            for (line, text) in groupsNote.enumerated() {
                canvas.text(text, groupsX, top + size + 18 + Double(line) * 15, size: 11, fill: "#555")
            }
        }
        return canvas.document
    }
}
