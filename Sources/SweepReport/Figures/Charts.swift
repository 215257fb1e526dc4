import Foundation

/// The plotting area of a chart with two numeric axes: title, axes, ticks, grid and labels.
struct PlotFrame {
    var title: String
    var subtitle: String?
    var xLabel: String
    var yLabel: String
    var x: Axis
    var y: Axis
    let width = 720.0, height = 440.0
    let left = 70.0, top = 58.0, bottom = 56.0
    /// Room on the right for a legend.
    var right = 190.0

    var plotLeft: Double { left }
    var plotRight: Double { width - right }
    var plotTop: Double { top }
    var plotBottom: Double { height - bottom }

    func px(_ value: Double) -> Double { x.scale(value, from: plotLeft, to: plotRight) }
    func py(_ value: Double) -> Double { y.scale(value, from: plotBottom, to: plotTop) }

    func canvas() -> SVGCanvas {
        var canvas = SVGCanvas(width: width, height: height)
        canvas.text(title, width / 2, 22, size: 15, anchor: .middle, weight: "bold")
        if let subtitle { canvas.text(subtitle, width / 2, 40, size: 12, anchor: .middle, fill: "#555") }
        for tick in x.ticks {
            canvas.line(px(tick), plotTop, px(tick), plotBottom, stroke: "#e5e5e5")
            canvas.line(px(tick), plotBottom, px(tick), plotBottom + 5)
            canvas.text(x.label(tick), px(tick), plotBottom + 19, size: 11, anchor: .middle)
        }
        for tick in y.ticks {
            canvas.line(plotLeft, py(tick), plotRight, py(tick), stroke: "#e5e5e5")
            canvas.line(plotLeft - 5, py(tick), plotLeft, py(tick))
            canvas.text(y.label(tick), plotLeft - 8, py(tick) + 4, size: 11, anchor: .end)
        }
        canvas.line(plotLeft, plotBottom, plotRight, plotBottom)
        canvas.line(plotLeft, plotTop, plotLeft, plotBottom)
        canvas.text(xLabel, (plotLeft + plotRight) / 2, height - 14, size: 13, anchor: .middle)
        canvas.text(yLabel, 18, (plotTop + plotBottom) / 2, size: 13, anchor: .middle, rotation: -90)
        return canvas
    }

    /// A legend of coloured entries at the right of the plot; `marker` draws each entry's symbol.
    func legend(_ entries: [(label: String, color: String)], on canvas: inout SVGCanvas,
                marker: (inout SVGCanvas, Double, Double, String) -> Void) {
        let x = plotRight + 16
        for (index, entry) in entries.enumerated() {
            let y = plotTop + 10 + Double(index) * 20
            marker(&canvas, x, y, entry.color)
            canvas.text(entry.label, x + 26, y + 4, size: 12)
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

        public init(name: String, group: String? = nil, points: [Point]) {
            self.name = name; self.group = group; self.points = points
        }
    }

    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double
        public init(x: Double, y: Double) { self.x = x; self.y = y }
    }

    public var title: String
    public var subtitle: String?
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]

    public init(title: String, subtitle: String? = nil, xLabel: String, yLabel: String, series: [Series]) {
        self.title = title; self.subtitle = subtitle; self.xLabel = xLabel; self.yLabel = yLabel
        self.series = series
    }

    /// Legends longer than this would cover the plot; the groups are then named in the title only by count.
    static let legendLimit = 16

    public var svg: String {
        let points = series.flatMap(\.points)
        let frame = PlotFrame(title: title, subtitle: subtitle, xLabel: xLabel, yLabel: yLabel,
                              x: Axis(values: points.map(\.x), integral: true, targetTicks: 8),
                              y: Axis(values: points.map(\.y), includeZero: true, padded: true))
        var canvas = frame.canvas()
        var groups: [String] = []
        for series in self.series where !groups.contains(series.group ?? series.name) {
            groups.append(series.group ?? series.name)
        }
        // Many thin lines (every adapter of a model) stay readable when they are translucent.
        let crowded = series.count > Self.legendLimit
        for series in self.series {
            let color = Palette.color(groups.firstIndex(of: series.group ?? series.name)!)
            let coordinates = series.points.map { (frame.px($0.x), frame.py($0.y)) }
            canvas.polyline(coordinates, stroke: color, width: crowded ? 1 : 2, opacity: crowded ? 0.55 : 1)
            if !crowded, coordinates.count <= 60 {
                for (x, y) in coordinates { canvas.circle(x, y, radius: 2.5, fill: color, stroke: color) }
            }
        }
        if groups.count <= Self.legendLimit {
            frame.legend(groups.enumerated().map { ($1, Palette.color($0)) }, on: &canvas) { canvas, x, y, color in
                canvas.line(x, y, x + 20, y, stroke: color, width: 2.5)
            }
        } else {
            canvas.text("\(groups.count) series", frame.plotRight + 16, frame.plotTop + 14, size: 12)
        }
        return canvas.document
    }
}

/// Labelled points, ours filled and the papers' hollow, with the Pareto front of our points:
/// fewer parameters and higher Δm are better.
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

    public var svg: String {
        let frame = PlotFrame(title: title, subtitle: subtitle, xLabel: xLabel, yLabel: yLabel,
                              x: Axis(values: points.map(\.x), includeZero: true, padded: true),
                              y: Axis(values: points.map(\.y), includeZero: true, padded: true))
        var canvas = frame.canvas()
        canvas.line(frame.plotLeft, frame.py(0), frame.plotRight, frame.py(0), stroke: "#999", dash: "4 3")
        let ours = points.filter { !$0.fromPaper }
        let front = Self.front(ours)
        if front.count > 1 {
            canvas.polyline(front.map { (frame.px($0.x), frame.py($0.y)) }, stroke: Palette.color(0), width: 1.5)
        }
        for point in points {
            let color = point.fromPaper ? Palette.color(1) : Palette.color(0)
            let (x, y) = (frame.px(point.x), frame.py(point.y))
            canvas.circle(x, y, radius: 4.5, fill: point.fromPaper ? "#fff" : color, stroke: color)
            canvas.text(point.label, x + 7, y - 7, size: 11, fill: point.fromPaper ? "#8a3b00" : "#000")
        }
        var entries = [("ours (line: Pareto front)", Palette.color(0))]
        if points.contains(where: \.fromPaper) { entries.append(("paper", Palette.color(1))) }
        frame.legend(entries, on: &canvas) { canvas, x, y, color in
            canvas.circle(x + 10, y, radius: 4.5, fill: color == Palette.color(1) ? "#fff" : color, stroke: color)
        }
        return canvas.document
    }
}

/// A labelled square matrix (task similarity): one coloured cell per entry with its value
/// written in, on a diverging scale from -1 (blue) through 0 (white) to +1 (red).
public struct HeatMap: Sendable {
    public var title: String
    public var labels: [String]
    public var values: [[Double]]

    public init(title: String, labels: [String], values: [[Double]]) {
        self.title = title; self.labels = labels; self.values = values
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
        var canvas = SVGCanvas(width: left + size + 110, height: top + size + longest * 0.7 + 30)
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
        return canvas.document
    }
}
