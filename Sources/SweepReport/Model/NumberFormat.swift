import Foundation

/// Fixed-point text for table cells. Every format writes numbers through here, so Markdown,
/// LaTeX and CSV agree digit for digit and "best" is decided on what the reader sees.
public enum NumberFormat {
    /// `value` with `precision` decimals; `signed` adds "+" to positive values (Δm, as the papers
    /// print it). Never "-0.00": a value that rounds to zero is written without a sign.
    public static func fixed(_ value: Double, precision: Int, signed: Bool = false) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        var text = String(format: "%.\(max(0, precision))f", value)
        let roundsToZero = !text.contains { $0 >= "1" && $0 <= "9" }
        if roundsToZero {
            if text.hasPrefix("-") { text.removeFirst() }
        } else if signed, !text.hasPrefix("-") {
            text = "+" + text
        }
        return text
    }

    /// The value the reader sees, as a number: what "best" and ties are decided on.
    public static func displayed(_ value: Double, precision: Int) -> Double {
        Double(fixed(value, precision: precision)) ?? value
    }
}
