import CSV
import Foundation

/// A table as CSV: one line per row whatever the layout (data, not a picture), keys as column
/// names, and mean, std, n, best and the paper's value in separate fields. Numbers are written
/// at the column's displayed precision, like the Markdown and LaTeX files.
enum TableCSV {
    static func text(of table: Table) throws -> String {
        let stream = OutputStream(toMemory: ())
        let writer = try CSVWriter(stream: stream)
        var header = ["row", "paper_only", "reference"]
        for column in table.columns {
            header += ["mean", "std", "n", "best"].map { "\(column.key).\($0)" }
            if column.hasPaper { header.append("\(column.key).paper") }
        }
        header.append("note")
        try writer.write(row: header)

        for row in table.rows {
            var fields = [row.label, String(row.paperOnly), String(row.isReference)]
            for (cell, column) in zip(row.cells, table.columns) {
                let summary = cell.measured
                fields.append(summary.map { NumberFormat.fixed($0.mean, precision: column.precision) } ?? "")
                fields.append(summary?.std.map { NumberFormat.fixed($0, precision: column.precision) } ?? "")
                fields.append(summary.map { String($0.n) } ?? "0")
                fields.append(String(cell.isBest))
                if column.hasPaper {
                    // The paper's decimals; no "≈": the field is a number.
                    fields.append(cell.paper.map { NumberFormat.fixed($0.value, precision: $0.decimals ?? column.precision) } ?? "")
                }
            }
            fields.append(row.note ?? "")
            try writer.write(row: fields)
        }
        stream.close()
        guard let data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else {
            throw CSVError.cannotWriteStream
        }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
