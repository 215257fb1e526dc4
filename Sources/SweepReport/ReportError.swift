import Foundation

/// Why a table could not be written. Each message names the table (and file) and what was expected.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    case unknownColumnKey(table: String, key: String)
    case missingReferenceRow(table: String)
    case unknownReferenceRow(table: String, label: String, rows: [String])
    case unknownRow(table: String, label: String, rows: [String])
    case missingTemplate(table: String, layout: String, file: String, available: [String])
    case unreadableTemplates(directory: String, reason: String)
    case malformedTemplate(file: String, line: Int, column: Int, reason: String)

    public var description: String {
        switch self {
        case .unknownColumnKey(let table, let key):
            return "table '\(table)': column key '\(key)' is not a task name nor one of "
                + Measure.reservedKeys.joined(separator: ", ")
        case .missingReferenceRow(let table):
            return "table '\(table)': a delta_m column needs a reference row (the single-task runs Δm is measured against)"
        case .unknownReferenceRow(let table, let label, let rows):
            return "table '\(table)': reference row '\(label)' is not one of its rows ("
                + rows.map { "'\($0)'" }.joined(separator: ", ") + ")"
        case .unknownRow(let table, let label, let rows):
            return "table '\(table)': no row '\(label)' (rows: " + rows.map { "'\($0)'" }.joined(separator: ", ") + ")"
        case .missingTemplate(let table, let layout, let file, let available):
            return "table '\(table)': layout '\(layout)' needs the template \(file); available layouts: "
                + (available.isEmpty ? "none" : available.joined(separator: ", "))
        case .unreadableTemplates(let directory, let reason):
            return "\(directory): cannot read the templates: \(reason)"
        case .malformedTemplate(let file, let line, let column, let reason):
            return "\(file):\(line):\(column): \(reason)"
        }
    }
}
