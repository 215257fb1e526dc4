/// Columns of text padded to their widest cell, for terminal listings.
struct TextTable {
    /// nil for a list of facts (name, value) with no heading line.
    var header: [String]?
    var rows: [[String]] = []

    init(_ header: [String]? = nil) { self.header = header }

    mutating func append(_ row: [String]) { rows.append(row) }

    /// The table as lines; the last column is not padded, so lines carry no trailing blanks.
    func render(into out: inout String) {
        let lines = (header.map { [$0] } ?? []) + rows
        var widths = Array(repeating: 0, count: lines.map(\.count).max() ?? 0)
        for row in lines {
            for (column, cell) in row.enumerated() {
                widths[column] = max(widths[column], cell.count)
            }
        }
        for row in lines {
            for (column, cell) in row.enumerated() {
                if column > 0 { out += "  " }
                out += cell
                if column < row.count - 1 {
                    out += String(repeating: " ", count: widths[column] - cell.count)
                }
            }
            out += "\n"
        }
    }
}

/// Durations the way people read them: "42 s", "3 min 05 s", "2 h 10 min", "3 d 4 h".
func humanDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "—" }
    if seconds < 10 { return String(format: "%.1f s", seconds) }
    let total = Int(seconds.rounded())
    let (days, hours, minutes, secs) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60)
    if days > 0 { return "\(days) d \(hours) h" }
    if hours > 0 { return "\(hours) h \(String(format: "%02d", minutes)) min" }
    if minutes > 0 { return "\(minutes) min \(String(format: "%02d", secs)) s" }
    return "\(secs) s"
}
