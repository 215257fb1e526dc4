/// Columns of text padded to their widest cell, for terminal listings.
struct TextTable {
    /// nil for a list of facts (name, value) with no heading line.
    var header: [String]?
    var rows: [[String]] = []

    init(_ header: [String]? = nil) { self.header = header }

    mutating func append(_ row: [String]) { rows.append(row) }

    /// The table as lines, with no trailing blanks (an empty last cell leaves none either).
    func render(into out: inout String) {
        let lines = (header.map { [$0] } ?? []) + rows
        var widths = Array(repeating: 0, count: lines.map(\.count).max() ?? 0)
        for row in lines {
            for (column, cell) in row.enumerated() {
                widths[column] = max(widths[column], cell.count)
            }
        }
        for row in lines {
            var line = ""
            for (column, cell) in row.enumerated() {
                if column > 0 { line += "  " }
                line += cell
                if column < row.count - 1 {
                    line += String(repeating: " ", count: widths[column] - cell.count)
                }
            }
            while line.last == " " { line.removeLast() }
            out += line + "\n"
        }
    }
}
