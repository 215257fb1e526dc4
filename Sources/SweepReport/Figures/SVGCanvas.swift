import Foundation

/// A hand-written SVG document: the few shapes the figures need, with coordinates printed at
/// fixed precision so regenerated files diff cleanly.
struct SVGCanvas {
    let width: Double
    let height: Double
    private var elements: [String] = []

    init(width: Double, height: Double) {
        self.width = width; self.height = height
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double,
                       stroke: String = "#000", width: Double = 1, dash: String? = nil) {
        elements.append("<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" "
            + "stroke=\"\(stroke)\" stroke-width=\"\(n(width))\"" + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>")
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 1.5, opacity: Double = 1) {
        let text = points.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
        elements.append("<polyline points=\"\(text)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(n(width))\""
            + (opacity < 1 ? " stroke-opacity=\"\(n(opacity))\"" : "") + " stroke-linejoin=\"round\"/>")
    }

    /// Opens a group of elements that belong to one run (`data-run`), with a tooltip; `endGroup` closes it.
    mutating func beginGroup(class name: String, run: String, title: String?) {
        elements.append("<g class=\"\(Self.escape(name))\" data-run=\"\(Self.escape(run))\">"
            + (title.map { "<title>\(Self.escape($0))</title>" } ?? ""))
    }

    mutating func endGroup() { elements.append("</g>") }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, stroke: String? = nil) {
        elements.append("<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(w))\" height=\"\(n(h))\" fill=\"\(fill)\""
            + (stroke.map { " stroke=\"\($0)\"" } ?? "") + "/>")
    }

    mutating func circle(_ x: Double, _ y: Double, radius: Double, fill: String, stroke: String) {
        elements.append("<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"\(n(radius))\" fill=\"\(fill)\" "
            + "stroke=\"\(stroke)\" stroke-width=\"1.5\"/>")
    }

    enum Anchor: String { case start, middle, end }

    mutating func text(_ string: String, _ x: Double, _ y: Double, size: Double = 12, anchor: Anchor = .start,
                       weight: String? = nil, rotation: Double = 0, fill: String = "#000") {
        let transform = rotation == 0 ? "" : " transform=\"rotate(\(n(rotation)) \(n(x)) \(n(y)))\""
        elements.append("<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" text-anchor=\"\(anchor.rawValue)\""
            + (weight.map { " font-weight=\"\($0)\"" } ?? "") + (fill == "#000" ? "" : " fill=\"\(fill)\"")
            + transform + ">" + Self.escape(string) + "</text>")
    }

    var document: String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(height))\" "
            + "viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"Helvetica, Arial, sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
            + elements.joined(separator: "\n") + "\n</svg>\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Two decimals are far below a pixel and keep the files stable.
    private func n(_ value: Double) -> String { NumberFormat.fixed(value, precision: 2) }
}

/// Colour-blind-safe categorical colours (Okabe-Ito, then darker shades).
enum Palette {
    static let colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                         "#F0E442", "#7F3C8D", "#11A579", "#3969AC", "#E73F74"]

    static func color(_ index: Int) -> String { colors[index % colors.count] }
}

/// Axis ticks at 1, 2 or 5 times a power of ten, on a linear or a logarithmic scale.
struct Axis {
    var lower: Double
    var upper: Double
    var ticks: [Double]
    var decimals: Int
    var logarithmic = false

    /// `padded`: room beyond the extreme values, so points and their labels stay off the frame;
    /// never past 0 when `includeZero` (a count does not go below 0).
    /// `integral`: steps of at least 1 (epochs).
    init(values: [Double], includeZero: Bool = false, padded: Bool = false, integral: Bool = false,
         targetTicks: Int = 6) {
        var low = values.min() ?? 0, high = values.max() ?? 1
        if padded {
            let pad = 0.06 * max(high - low, abs(high), 1e-9)
            if !(includeZero && low >= 0) { low -= pad }
            if !(includeZero && high <= 0) { high += pad }
        }
        if includeZero { low = min(low, 0); high = max(high, 0) }
        if low == high { low -= 1; high += 1 }
        let raw = (high - low) / Double(max(1, targetTicks - 1))
        let magnitude = pow(10, floor(log10(raw)))
        var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        if integral { step = max(1, step.rounded(.up)) }
        let first = floor(low / step) * step, last = ceil(high / step) * step
        let count = Int(((last - first) / step).rounded())
        lower = first
        upper = last
        ticks = (0...count).map { first + Double($0) * step }
        decimals = max(0, -Int(floor(log10(step) + 1e-9)))
    }

    /// A logarithmic axis for positive values: ends and ticks at 1, 2 and 5 times a power of ten
    /// (powers of ten only beyond three decades), with room of 6 % of the span at both ends.
    init(logarithmicValues values: [Double]) {
        precondition(values.allSatisfy { $0 > 0 }, "a logarithmic axis needs positive values")
        let low = log10(values.min() ?? 1), high = log10(values.max() ?? 10)
        let pad = 0.06 * max(high - low, 0.5)
        let (from, to) = (low - pad, high + pad)
        let mantissas: [Double] = to - from > 3 ? [1] : [1, 2, 5]
        let candidates = (Int(floor(from))...Int(ceil(to)) + 1).flatMap { power in
            mantissas.map { $0 * pow(10, Double(power)) }
        }
        let first = candidates.last { log10($0) <= from + 1e-9 } ?? pow(10, from)
        let last = candidates.first { log10($0) >= to - 1e-9 } ?? pow(10, to)
        lower = first
        upper = last
        ticks = candidates.filter { $0 >= first && $0 <= last }
        decimals = 0
        logarithmic = true
    }

    /// On a logarithmic axis each tick has the decimals it needs (0.2, 1, 50).
    func label(_ value: Double) -> String {
        let places = logarithmic ? max(0, -Int(floor(log10(value) + 1e-9))) : decimals
        return NumberFormat.fixed(value, precision: places)
    }

    /// Position of `value` between `from` (at lower) and `to` (at upper).
    func scale(_ value: Double, from: Double, to: Double) -> Double {
        let fraction = logarithmic
            ? (log10(value) - log10(lower)) / (log10(upper) - log10(lower))
            : (value - lower) / (upper - lower)
        return from + fraction * (to - from)
    }
}
