import RunContract
import SweepCore

/// What the Mustache templates see: a table's cells as text (numbers formatted once, here),
/// laid out both ways, so a template only arranges and marks up. Labels stay raw: the
/// template's content type escapes them for its format.
struct TableView {
    var plan: String
    var name: String
    var title: String
    /// "rows" layout: one header per printed column (a paper column follows its measured column).
    var headers: [Header]
    /// "rows" layout: one group per table column, spanning its paper column when it has one.
    var groups: [Group]
    var hasPaperColumns: Bool
    var rows: [RowLine]
    /// "transposed" layout: the table's rows become columns, its columns become lines.
    var columnLabels: [Label]
    var lines: [MeasureLine]
    /// "grid" layout: one grid per table column, each row in its cell (`Row.gridPosition`).
    var grids: [Grid] = []
    var footer: [String]
    /// Figures written beside the table (Markdown links them).
    var figures: [FigureLink] = []

    struct FigureLink { var title: String; var file: String }

    struct Label { var label: String; var paperOnly: Bool }

    struct Header {
        var header: String
        var higher: Bool
        var lower: Bool
        var paper: Bool
    }

    struct Group {
        var header: String
        var higher: Bool
        var lower: Bool
        var paired: Bool
        /// 1-based LaTeX column numbers (the label is column 1), for \cmidrule.
        var first: Int
        var last: Int
    }

    struct RowLine {
        var label: String
        var paperOnly: Bool
        var cells: [CellText]
        /// The page's list of the row's runs (`runsAnchor`); nil for a paper-only row.
        var anchor: String? = nil
    }

    struct MeasureLine {
        var heading: Header
        var cells: [CellText]
    }

    /// A table column as the paper's grid: lines down, columns across (each followed by its
    /// paper column when the measure has published values).
    struct Grid {
        var heading: Header
        var columns: [Header]
        var lines: [GridLine]
    }

    struct GridLine {
        var label: String
        var cells: [CellText]
    }

    /// One printed cell. Exactly one of `blank`, `missing` or a `mean` applies.
    struct CellText {
        /// Nothing to say: a paper-only row's measured cell, or a paper cell without a published value.
        var blank: Bool
        /// A value we should have but no finished run gives it.
        var missing: Bool
        var mean: String?
        var std: String?
        /// Shown only when it differs from the table's usual n.
        var count: Int?
        var bold: Bool
        /// A published value the paper gives as approximate: "≈ 41".
        var approximate = false
        /// A mark instead of a number ("✓", "✕"), printed outside LaTeX's math mode.
        var symbol: String?
        /// A published value (the page sets these apart).
        var paper = false

        static let blankCell = CellText(blank: true, missing: false, mean: nil, std: nil, count: nil, bold: false)
        static let missingCell = CellText(blank: false, missing: true, mean: nil, std: nil, count: nil, bold: false)
    }
}

extension TableView {
    init(table: Table, plan: String) {
        self.plan = plan
        name = table.name
        title = table.title

        func measured(_ cell: Table.Cell, row: Table.Row, column: Table.Column) -> CellText {
            if column.measure == .singleInference {
                guard let value = row.paperOnly ? cell.paper?.value : cell.measured?.mean else {
                    return row.paperOnly ? .blankCell : .missingCell
                }
                var text = CellText.blankCell
                (text.blank, text.symbol) = (false, value == 1 ? "✓" : value == 0 ? "✕" : "✓/✕")
                return text
            }
            if row.paperOnly { return .blankCell }
            guard let summary = cell.measured else { return .missingCell }
            let signed = column.measure == .deltaM
            return CellText(blank: false, missing: false,
                            mean: NumberFormat.fixed(summary.mean, precision: column.precision, signed: signed),
                            // Seeds that agree exactly (parameter counts, GMACs) print no "± 0.00".
                            std: summary.std.flatMap { $0 == 0 ? nil : NumberFormat.fixed($0, precision: column.precision) },
                            count: summary.n == table.typicalN ? nil : summary.n, bold: cell.isBest)
        }
        // Quoted as the paper prints it: its decimals and "≈"; Δm signed, as the papers print it.
        func paper(_ cell: Table.Cell, column: Table.Column) -> CellText {
            guard let published = cell.paper else { return .blankCell }
            let text = NumberFormat.fixed(published.value, precision: published.decimals ?? column.precision,
                                          signed: column.measure == .deltaM)
            return CellText(blank: false, missing: false, mean: text, std: nil, count: nil, bold: false,
                            approximate: published.approximate, paper: true)
        }

        var headers: [Header] = []
        var groups: [Group] = []
        for column in table.columns {
            let higher = column.direction == .higher, lower = column.direction == .lower
            let first = headers.count + 2
            headers.append(Header(header: column.header, higher: higher, lower: lower, paper: false))
            if column.hasPaper {
                headers.append(Header(header: column.header, higher: higher, lower: lower, paper: true))
            }
            groups.append(Group(header: column.header, higher: higher, lower: lower, paired: column.hasPaper,
                                first: first, last: headers.count + 1))
        }
        self.headers = headers
        self.groups = groups
        hasPaperColumns = table.columns.contains(where: \.hasPaper)

        rows = table.rows.enumerated().map { index, row in
            var cells: [CellText] = []
            for (cell, column) in zip(row.cells, table.columns) {
                cells.append(measured(cell, row: row, column: column))
                if column.hasPaper { cells.append(paper(cell, column: column)) }
            }
            return RowLine(label: row.label, paperOnly: row.paperOnly, cells: cells,
                           anchor: row.paperOnly ? nil : Self.runsAnchor(table: table.name, row: index))
        }

        columnLabels = table.rows.map { Label(label: $0.label, paperOnly: $0.paperOnly) }
        var lines: [MeasureLine] = []
        var headerIndex = 0
        for (index, column) in table.columns.enumerated() {
            lines.append(MeasureLine(heading: headers[headerIndex],
                                     cells: table.rows.map { measured($0.cells[index], row: $0, column: column) }))
            headerIndex += 1
            if column.hasPaper {
                lines.append(MeasureLine(heading: headers[headerIndex],
                                         cells: table.rows.map { paper($0.cells[index], column: column) }))
                headerIndex += 1
            }
        }
        self.lines = lines

        // Lines and columns in the order the rows first name them.
        var gridLines: [String] = [], gridColumns: [String] = []
        for position in table.rows.compactMap(\.gridPosition) {
            if !gridLines.contains(position.line) { gridLines.append(position.line) }
            if !gridColumns.contains(position.column) { gridColumns.append(position.column) }
        }
        if !gridLines.isEmpty {
            grids = table.columns.enumerated().map { index, column in
                var columns: [Header] = []
                for label in gridColumns {
                    columns.append(Header(header: label, higher: false, lower: false, paper: false))
                    if column.hasPaper { columns.append(Header(header: label, higher: false, lower: false, paper: true)) }
                }
                let gridLines = gridLines.map { line in
                    var cells: [CellText] = []
                    for label in gridColumns {
                        let row = table.rows.first { $0.gridPosition == GridPosition(line: line, column: label) }
                        cells.append(row.map { measured($0.cells[index], row: $0, column: column) } ?? .blankCell)
                        if column.hasPaper { cells.append(row.map { paper($0.cells[index], column: column) } ?? .blankCell) }
                    }
                    return GridLine(label: line, cells: cells)
                }
                return Grid(heading: Header(header: column.header, higher: column.direction == .higher,
                                            lower: column.direction == .lower, paper: false),
                            columns: columns, lines: gridLines)
            }
        }
        footer = Self.footer(of: table)
    }

    /// Where the page lists the runs of a table's row.
    static func runsAnchor(table: String, row: Int) -> String { "runs-\(Figures.slugged(table))-\(row + 1)" }

    /// Plain sentences that say how to read the table and where its numbers come from.
    static func footer(of table: Table) -> [String] {
        var lines: [String] = []
        if !table.scale.isEmpty {
            let settings = table.scale.map { $0.values.count == 1 ? "\($0.key) \($0.values[0])"
                                                                  : "\($0.key) varies (\($0.values.joined(separator: ", ")))" }
            lines.append("Scale (the runs' configs; keys they do not set are at the engine's defaults): "
                         + settings.joined(separator: ", ") + ".")
        }
        let measuredCells = table.rows.filter { !$0.paperOnly }.flatMap(\.cells)
        if let n = table.typicalN {
            let marked = measuredCells.contains { $0.measured.map { $0.n != n } ?? false }
                ? "; (n=k): a cell from k seeds." : "."
            lines.append(n > 1 ? "Mean ± sample std over \(n) seeds (no ± where the seeds agree exactly)" + marked
                               : "One seed per cell" + marked)
        }
        if measuredCells.contains(where: { $0.measured == nil }) {
            lines.append("—: no finished run gives this value.")
        }
        if let column = table.columns.first(where: { $0.measure == .singleInference }) {
            lines.append("\(column.header): ✓ one model gives every task in one pass, ✕ one model per task.")
        }
        if let reference = table.referenceRow, table.columns.contains(where: { $0.measure == .deltaM }) {
            lines.append("Δm (%) against the row \(reference), task by task (the mean of its runs); its own Δm is not ranked.")
        }
        if table.columns.contains(where: { $0.direction != nil }) {
            lines.append("Bold: best of the column at the displayed precision, with every value within noise of it "
                         + "(Welch t-test, 95 %, at least \(RowComparison.minimumSeeds) seeds each); "
                         + "bold alone: beyond noise from every other row.")
            let tied = table.columns.filter(\.withinNoise).map(\.header)
            lines.append("Within noise (several bold): " + (tied.isEmpty ? "no column" : tied.joined(separator: ", ")) + ".")
        }
        if let trivial = table.trivialRow, table.columns.contains(where: { if case .task = $0.measure { true } else { false } }) {
            let flat = table.columnsAtTrivial
            lines.append("\(trivial): each task's best constant prediction; "
                         + (flat.isEmpty ? "every task column has a row beyond noise above it."
                                         : "no row is beyond noise above it in " + flat.joined(separator: ", ")
                                           + ": that column says nothing about the methods at this scale."))
        }
        if table.columns.contains(where: \.hasPaper) {
            lines.append("(paper): published value" + (table.paperSource.map { ", \($0)" } ?? "") + ".")
        }
        // One reason reads as the mark's meaning; several name their rows, so each † stays true.
        let paperOnly = table.rows.filter(\.paperOnly)
        let reason = { (row: Table.Row) in row.paperOnlyReason ?? "the engine does not implement this row" }
        var reasons: [String] = []
        for row in paperOnly where !reasons.contains(reason(row)) { reasons.append(reason(row)) }
        if reasons.count == 1 {
            lines.append("† paper only: \(reasons[0]).")
        } else {
            for text in reasons {
                let rows = paperOnly.filter { reason($0) == text }
                lines.append("† paper only, \(text): " + rows.map(\.label).joined(separator: ", ") + ".")
            }
        }
        for row in table.rows {
            if let note = row.note { lines.append("\(row.label): \(note)") }
        }
        var engine = table.engineVersions.isEmpty ? "no finished run"
            : "engine " + table.engineVersions.joined(separator: ", ")
        if !table.blasCores.isEmpty { engine += ", OpenBLAS core " + table.blasCores.joined(separator: ", ") }
        lines.append("Runs: \(table.succeededRuns) of \(table.plannedRuns) succeeded; \(engine).")
        return lines
    }
}
