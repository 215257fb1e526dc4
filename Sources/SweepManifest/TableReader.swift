import Foundation
import RunContract
import SweepCore

/// Reads `tables:` once the runs exist, so each row can be checked to select some.
struct TableReader {
    static let tableKeys = ["title", "layout", "columns", "reference", "trivial", "paper", "x_axis", "rows"]
    static let rowKeys = ["label", "group", "row", "where", "paper", "paper_only", "x", "grid", "note"]
    /// The layouts Templates/ ships; a manifest may name its own (`sweep run` checks that its
    /// templates exist before anything starts).
    static let layouts = ["rows", "transposed", "grid"]
    static let tasks = ["semseg", "human_parts", "saliency", "normals", "depth"]
    static let fixedColumns = ["delta_m", "params.trainable", "params.total", "params.decoder", "params.backbone",
                               "gmacs", "train_seconds", "epoch_seconds", "single_inference"]
    static let defaultHeaders = [
        "semseg": "SemSeg", "human_parts": "Human Parts", "saliency": "Saliency", "normals": "Normals",
        "depth": "Depth", "delta_m": "Δm (%)", "params.trainable": "Trainable Params (M)",
        "params.total": "Total Params (M)", "params.decoder": "Decoder Params (M)",
        "params.backbone": "Backbone Params (M)", "gmacs": "GMACs", "train_seconds": "Training Time (s)",
        "epoch_seconds": "Epoch Time (s)", "single_inference": "Single inf. (all tasks)",
    ]

    let expansion: Planner.Expansion
    let groups: [String: GroupDefinition]
    let groupNames: [String]
    /// The command line's and the profile's changes (`rank=[4]`), or empty: a table row they
    /// leave without runs is a warning naming them (its cells show —), not an error.
    let overrides: [String]
    /// Our engine's tasks are known per data set, so a column of a task no run has is caught:
    /// the engines (nil: the manifest's `engine`) that are our `mtl-engine`.
    let bundledEngines: Set<String?>
    private(set) var warnings: [String] = []

    init(expansion: Planner.Expansion, document: ManifestDocument, overrides: [String] = []) {
        self.expansion = expansion
        groups = Dictionary(uniqueKeysWithValues: document.groups.map { ($0.name, $0) })
        groupNames = document.groups.map(\.name)
        self.overrides = overrides
        bundledEngines = Set(([nil] + document.engines.keys.map { Optional($0) }).filter { name in
            (name.flatMap { document.engines[$0] } ?? document.engine).command == nil
        })
    }

    mutating func read(_ node: ManifestNode?) throws(ManifestError) -> [TableSpec] {
        guard let node else { return [] }
        var tables: [TableSpec] = []
        for entry in try node.mapping(expected: "a mapping of table name -> table") {
            try PathName.check(entry.key, what: "table name", at: entry.keyLocation, keyPath: node.childPath(entry.key))
            tables.append(try readTable(name: entry.key, entry.value))
        }
        return tables
    }

    private mutating func readTable(name: String, _ node: ManifestNode) throws(ManifestError) -> TableSpec {
        try node.checkKeys(Self.tableKeys, in: "table '\(name)'")
        let title = try node["title"]?.string(expected: "the table's title") ?? name
        var layout = "rows"
        var layoutSource: String?
        if let layoutNode = node["layout"] {
            layoutSource = "\(layoutNode.location.file):\(layoutNode.location.line):\(layoutNode.location.column)"
            let expected = Self.layouts.joined(separator: " or ") + ", or the name of your own pair of templates"
            layout = try layoutNode.string(expected: expected)
            let nameCharacters = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_"))
            if layout.isEmpty || layout.unicodeScalars.contains(where: { !nameCharacters.contains($0) }) {
                throw layoutNode.error("layout '\(layout)' is not a template name", expected: expected + " (letters, digits, - and _)",
                                       suggestion: Spelling.closest(to: layout, among: Self.layouts))
            }
        }
        guard let columnsNode = node["columns"] else {
            throw node.error("table '\(name)' has no columns", expected: "columns: [semseg, normals, delta_m, ...]")
        }
        let columnItems = try columnsNode.sequence(expected: "a list of columns")
        if columnItems.isEmpty { throw columnsNode.error("table '\(name)' has no columns", expected: "at least one column") }
        var columns: [ColumnSpec] = []
        for item in columnItems {
            let column = try readColumn(item)
            if columns.contains(where: { $0.key == column.key }) {
                throw item.error("column '\(column.key)' appears twice", expected: "each column key once")
            }
            columns.append(column)
        }
        let columnKeys = columns.map(\.key)

        var published: (source: String?, rows: [String: (values: [String: PublishedValue], node: ManifestNode)]) = (nil, [:])
        if let paperNode = node["paper"] { published = try readPublished(paperNode, columns: columnKeys) }

        let xAxis = try node["x_axis"]?.string(expected: "what the rows vary (\"LoRA scale alpha\")")
        guard let rowsNode = node["rows"] else {
            throw node.error("table '\(name)' has no rows", expected: "rows: [{label: ..., group: ...}, ...]")
        }
        let rowItems = try rowsNode.sequence(expected: "a list of rows")
        if rowItems.isEmpty { throw rowsNode.error("table '\(name)' has no rows", expected: "at least one row") }
        var rows: [RowSpec] = []
        for item in rowItems {
            var row = try readRow(item, columns: columnKeys)
            if rows.contains(where: { $0.label == row.label }) {
                throw (item["label"] ?? item).error("duplicate row label '\(row.label)' in table '\(name)'",
                                                    expected: "each row label once per table")
            }
            if let fromFile = published.rows[row.label] {
                row.paper = fromFile.values.merging(row.paper) { _, inline in inline }
            }
            if row.paperOnly, row.paper.isEmpty {
                throw item.error("paper-only row '\(row.label)' has no published values",
                                 expected: "paper: {column: value} here or in the table's paper file")
            }
            if let xNode = item["x"] {
                guard xAxis != nil else {
                    throw xNode.error("row '\(row.label)' has an x but table '\(name)' has no x_axis",
                                      expected: "x_axis: \"what the rows vary\" in the table")
                }
                guard let x = xNode.scalar?.doubleValue else { throw xNode.typeError(expected: "a number on the table's x axis") }
                row.x = x
            }
            if let gridNode = item["grid"] {
                let place = try gridNode.strings(expected: "[line, column]: where the grid layout puts the row")
                guard place.count == 2 else {
                    throw gridNode.error("grid position of '\(row.label)' has \(place.count) parts", expected: "[line, column]")
                }
                let position = GridPosition(line: place[0], column: place[1])
                if let other = rows.first(where: { $0.gridPosition == position }) {
                    throw gridNode.error("rows '\(other.label)' and '\(row.label)' share the grid cell [\(place[0]), \(place[1])]",
                                         expected: "one row per cell")
                }
                row.gridPosition = position
            } else if layout == "grid" {
                throw item.error("row '\(row.label)' has no place in the grid of table '\(name)'",
                                 expected: "grid: [line, column] (layout: grid)")
            }
            rows.append(row)
        }
        try checkTaskColumns(columns, items: columnItems, rows: rows, table: name)
        if let xAxisNode = node["x_axis"], !rows.contains(where: { $0.x != nil }) {
            throw xAxisNode.error("table '\(name)' has an x_axis but no row gives its x", expected: "x: NUMBER in its rows")
        }
        let labels = rows.map(\.label)
        for (label, fromFile) in published.rows where !labels.contains(label) {
            throw fromFile.node.error("published values for '\(label)', which is not a row of table '\(name)'",
                                      expected: "a row label of the table", suggestion: Spelling.closest(to: label, among: labels))
        }

        /// The row a table key (`reference`, `trivial`) names: one of the table's labels.
        func namedRow(_ key: String, _ what: String) throws(ManifestError) -> String? {
            guard let rowNode = node[key] else { return nil }
            let label = try rowNode.string(expected: "the label of the row \(what)")
            guard labels.contains(label) else {
                throw rowNode.error("\(key) row '\(label)' is not a row of table '\(name)'",
                                    expected: "one of: " + labels.joined(separator: ", "),
                                    suggestion: Spelling.closest(to: label, among: labels))
            }
            return label
        }
        let reference = try namedRow("reference", "Δm is measured against")
        if reference == nil, let deltaColumn = columnKeys.firstIndex(of: "delta_m") {
            throw columnItems[deltaColumn].error("table '\(name)' shows delta_m but names no reference row",
                             expected: "reference: <label of the single-task row>")
        }
        let trivial = try namedRow("trivial", "of constant predictions")
        var table = TableSpec(name: name, title: title, layout: layout, columns: columns, rows: rows,
                              referenceRow: reference, paperSource: published.source)
        table.xAxis = xAxis
        table.trivialRow = trivial
        table.layoutSource = layoutSource
        return table
    }

    // MARK: columns

    /// For a table of our engine's runs only: a task column must be a task of some run the table
    /// selects (a `saliency` column over NYUD runs would be all —).
    private func checkTaskColumns(_ columns: [ColumnSpec], items: [ManifestNode], rows: [RowSpec],
                                  table: String) throws(ManifestError) {
        let ids = Set(rows.flatMap(\.runs))
        guard !ids.isEmpty else { return }
        var tasks = Set<String>()
        for run in expansion.runs where ids.contains(run.id) {
            guard bundledEngines.contains(run.engine) else { return }
            if run.config["kind"]?.stringValue == "pretrain" { continue }
            if let task = run.config["task"]?.stringValue { tasks.insert(task); continue }
            if let listed = run.config["tasks"]?.arrayValue { tasks.formUnion(listed.compactMap(\.stringValue)); continue }
            let dataset = run.config["dataset"]?.stringValue ?? BundledEngine.defaultDataset
            tasks.formUnion(BundledEngine.datasetTasks[dataset] ?? [])
        }
        guard !tasks.isEmpty else { return }
        // A column with published numbers shows them even when our runs lack the task.
        let published = Set(rows.flatMap(\.paper.keys))
        for (column, item) in zip(columns, items)
        where Self.tasks.contains(column.key) && !tasks.contains(column.key) && !published.contains(column.key) {
            let order = Self.tasks.filter(tasks.contains)
            throw item.error("column '\(column.key)': no run of table '\(table)' has task \(column.key)",
                             expected: "a task of its runs: " + order.joined(separator: ", "),
                             suggestion: Spelling.closest(to: column.key, among: order))
        }
    }

    private func readColumn(_ node: ManifestNode) throws(ManifestError) -> ColumnSpec {
        if case .scalar = node.content {
            let key = try checkColumnKey(node)
            return ColumnSpec(key: key, header: Self.defaultHeaders[key] ?? Self.header(for: key))
        }
        try node.checkKeys(["key", "header", "direction", "precision"], in: "a column")
        guard let keyNode = node["key"] else { throw node.error("column without a key", expected: "key: semseg (a task, delta_m, params.trainable, ...)") }
        let key = try checkColumnKey(keyNode)
        var column = ColumnSpec(key: key, header: try node["header"]?.string(expected: "the column header")
                                    ?? Self.defaultHeaders[key] ?? Self.header(for: key))
        if let directionNode = node["direction"] {
            let text = try directionNode.string(expected: "higher or lower")
            guard let direction = Direction(rawValue: text) else {
                throw directionNode.error("unknown direction '\(text)'", expected: "higher or lower",
                                          suggestion: Spelling.closest(to: text, among: ["higher", "lower"]))
            }
            column.direction = direction
        }
        if let precisionNode = node["precision"] {
            column.precision = try precisionNode.int(expected: "digits after the decimal point (0...6)", minimum: 0)
            if column.precision > 6 { throw precisionNode.error("precision \(column.precision) is out of range", expected: "0...6") }
        }
        return column
    }

    private static func header(for key: String) -> String {
        key.hasPrefix("extra.") ? String(key.dropFirst("extra.".count)) : key
    }

    private func checkColumnKey(_ node: ManifestNode) throws(ManifestError) -> String {
        let key = try node.string(expected: "a column key")
        if Self.fixedColumns.contains(key) || Self.tasks.contains(key) { return key }
        if key.hasPrefix("extra."), key.count > "extra.".count { return key }
        let tasks = configuredTasks()
        if tasks.contains(key) { return key }
        let allTasks = Self.tasks + tasks.subtracting(Self.tasks).sorted()
        let candidates = Self.fixedColumns + allTasks
        throw node.error("unknown column '\(key)'",
                         expected: "a task (" + allTasks.joined(separator: ", ")
                            + "), delta_m, params.trainable/total/decoder/backbone, gmacs, train_seconds, epoch_seconds, single_inference or extra.NAME",
                         suggestion: Spelling.closest(to: key, among: candidates))
    }

    /// Task names the runs' configs mention (`task: x` or `tasks: [x, y]`), for engines with other tasks.
    private func configuredTasks() -> Set<String> {
        var names = Set<String>()
        var seen = Set<JSONValue>()
        for run in expansion.runs {
            for key in ["task", "tasks"] {
                guard let value = run.config[key], seen.insert(value).inserted else { continue }
                if let name = value.stringValue { names.insert(name) }
                for item in value.arrayValue ?? [] { if let name = item.stringValue { names.insert(name) } }
            }
        }
        return names
    }

    // MARK: published values

    private func readValues(_ node: ManifestNode, columns: [String]) throws(ManifestError) -> [String: PublishedValue] {
        var values: [String: PublishedValue] = [:]
        for entry in try node.mapping(expected: "a mapping of column key -> published number") {
            guard columns.contains(entry.key) else {
                throw entry.value.error("published value for '\(entry.key)', which is not a column of this table",
                                        expected: "one of: " + columns.joined(separator: ", "),
                                        suggestion: Spelling.closest(to: entry.key, among: columns))
            }
            values[entry.key] = try Self.published(entry.value, column: entry.key)
        }
        return values
    }

    /// A published number as printed: a YAML number keeps the decimals it is written with
    /// (0.60, not 0.6), and a string may mark it approximate ("≈ 41", as FAAR prints GFLOPs).
    static func published(_ node: ManifestNode, column: String) throws(ManifestError) -> PublishedValue {
        if column == "single_inference" {
            // The paper's marks, or a boolean: one model for every task, or one per task.
            switch node.scalar {
            case .string("✓")?, .bool(true)?: return PublishedValue(1, decimals: 0)
            case .string("✕")?, .bool(false)?: return PublishedValue(0, decimals: 0)
            default: throw node.typeError(expected: "\"✓\" or \"✕\" (or true / false) for single_inference")
            }
        }
        let expected = "a number for '\(column)' as the paper prints it (0.60), or approximate in quotes (\"≈ 41\")"
        switch node.scalar {
        case .int?, .double?:
            // 1e3 has no decimals to keep: the column's precision prints it.
            return PublishedValue(node.scalar!.doubleValue!, decimals: node.written.flatMap(Self.decimals))
        case .string(let string)?:
            var text = string.trimmingCharacters(in: .whitespaces)
            let approximate = text.hasPrefix("≈")
            if approximate { text = String(text.dropFirst()).trimmingCharacters(in: .whitespaces) }
            // The paper's minus sign may be the typographic one.
            text = text.replacingOccurrences(of: "−", with: "-")
            guard let decimals = Self.decimals(text), let value = Double(text) else {
                throw node.error("'\(string)' is not a published number", expected: expected)
            }
            return PublishedValue(value, decimals: decimals, approximate: approximate)
        default:
            throw node.typeError(expected: expected)
        }
    }

    /// The decimals of a plain number ("+2.5": 1, "41": 0); nil for anything else ("1e3", "41 h").
    private static func decimals(_ text: String) -> Int? {
        let digits = text.drop { $0 == "+" || $0 == "-" }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        return parts.count == 2 ? parts[1].count : 0
    }

    /// `paper: {file: data.yaml, table: id, source: "..."}`; the file is relative to the
    /// manifest that names it.
    private func readPublished(_ node: ManifestNode, columns: [String])
        throws(ManifestError) -> (source: String?, rows: [String: (values: [String: PublishedValue], node: ManifestNode)]) {
        try node.checkKeys(["file", "table", "source"], in: "paper")
        var source = try node["source"]?.string(expected: "where the published numbers come from (\"FAAR, Table 3\")")
        guard let fileNode = node["file"] else { return (source, [:]) }
        let path = ManifestFiles.resolve(try fileNode.string(expected: "a YAML file of published values"),
                                         relativeTo: node.location.file)
        let data = try ManifestFiles.load(path, from: fileNode)
        guard let tableNode = node["table"] else {
            throw node.error("paper file given without the table to take from it", expected: "table: <key in \(path)>")
        }
        let tableKey = try tableNode.string(expected: "a table key in \(path)")
        let tableEntries = try data.mapping(expected: "a mapping of table key -> {source, rows}")
        guard let published = data[tableKey] else {
            let keys = tableEntries.map(\.key)
            throw tableNode.error("\(path) has no table '\(tableKey)'", expected: "one of: " + keys.joined(separator: ", "),
                                  suggestion: Spelling.closest(to: tableKey, among: keys))
        }
        try published.checkKeys(["source", "rows"], in: "published table '\(tableKey)'")
        if source == nil { source = try published["source"]?.string(expected: "the paper and table") }
        var rows: [String: (values: [String: PublishedValue], node: ManifestNode)] = [:]
        for entry in try published["rows"]?.mapping(expected: "a mapping of row label -> {column: value}") ?? [] {
            rows[entry.key] = (try readValues(entry.value, columns: columns), entry.value)
        }
        return (source, rows)
    }

    // MARK: rows

    private mutating func readRow(_ node: ManifestNode, columns: [String]) throws(ManifestError) -> RowSpec {
        try node.checkKeys(Self.rowKeys, in: "a table row")
        guard let labelNode = node["label"] else { throw node.error("table row without a label", expected: "label: \"...\"") }
        let label = try labelNode.string(expected: "the row's label")
        let paper = try node["paper"].map { paper throws(ManifestError) in try readValues(paper, columns: columns) } ?? [:]
        let note = try node["note"]?.string(expected: "a note (a string)")
        // paper_only: true (the engine does not implement it), or the reason we have no runs.
        var paperOnly = false, reason: String?
        if let paperOnlyNode = node["paper_only"] {
            if case .string(let text)? = paperOnlyNode.scalar {
                (paperOnly, reason) = (true, text)
            } else {
                paperOnly = try paperOnlyNode.bool()
            }
        }
        if paperOnly {
            if let group = node["group"] {
                throw group.error("paper-only row '\(label)' selects runs", expected: "either paper_only: true or group: ..., not both")
            }
            return RowSpec(label: label, runs: [], paper: paper, paperOnly: true, paperOnlyReason: reason, note: note)
        }
        guard let groupNode = node["group"] else {
            throw node.error("table row '\(label)' selects no runs", expected: "group: <run group> (or paper_only: true)")
        }
        let groupName = try groupNode.string(expected: "a run group name")
        guard let group = groups[groupName], let groupRuns = expansion.groupRuns[groupName] else {
            throw groupNode.error("unknown group '\(groupName)'", expected: "one of: " + groupNames.joined(separator: ", "),
                                  suggestion: Spelling.closest(to: groupName, among: groupNames))
        }
        // A group with labelled rows is selected by label (the table's own label unless `row:` says otherwise).
        var wanted: String?
        let groupLabels = group.labels
        if let rowNode = node["row"] {
            wanted = try rowNode.string(expected: "a row label of group '\(groupName)'")
            if !groupLabels.contains(wanted!) {
                throw rowNode.error("group '\(groupName)' has no row labelled '\(wanted!)'",
                                    expected: groupLabels.isEmpty ? "a group with labelled rows" : "one of: " + groupLabels.joined(separator: "; "),
                                    suggestion: Spelling.closest(to: wanted!, among: groupLabels))
            }
        } else if !groupLabels.isEmpty {
            guard groupLabels.contains(label) else {
                throw labelNode.error("group '\(groupName)' has no row labelled '\(label)'",
                                      expected: "a label of the group's rows, or `row:` naming one: " + groupLabels.joined(separator: "; "),
                                      suggestion: Spelling.closest(to: label, among: groupLabels))
            }
            wanted = label
        }
        let filter = try node["where"].map { node throws(ManifestError) in try ManifestDocument.readPattern(node, what: "a table row's where") }
        var runs: [RunID] = []
        var seen = Set<RunID>()
        for groupRun in groupRuns where wanted == nil || groupRun.label == wanted {
            let run = expansion.runs[groupRun.runIndex]
            if let filter, !filter.matches(run.config) { continue }
            if seen.insert(run.id).inserted { runs.append(run.id) }
        }
        if runs.isEmpty {
            if !overrides.isEmpty {
                warnings.append("table row '\(label)' selects no run of group '\(groupName)' with "
                                + overrides.joined(separator: " ") + ": its cells show —")
                return RowSpec(label: label, runs: [], paper: paper, paperOnly: false, note: note)
            }
            let candidates = groupRuns.filter { wanted == nil || $0.label == wanted }.map { expansion.runs[$0.runIndex].config }
            var expected = "a `where` that some run of the group satisfies"
            var suggestion: String?
            for requirement in filter?.requirements ?? [] {
                let values = Set(candidates.compactMap { $0.value(at: requirement.path[...]) })
                if values.isEmpty {
                    // No run has the key at all: a misspelled key.
                    let keys = Set(candidates.flatMap { $0.objectValue?.keys.map { $0 } ?? [] })
                    expected = "no run of group '\(groupName)' has key '\(requirement.key)'; its keys: " + keys.sorted().joined(separator: ", ")
                    suggestion = Spelling.closest(to: requirement.key, among: keys)
                    break
                }
                if !values.contains(where: { requirement.value.matches($0) }) {
                    let shown = values.map(\.canonical).sorted()
                    expected = "'\(requirement.key)' of group '\(groupName)' is one of " + shown.prefix(12).joined(separator: ", ")
                        + (shown.count > 12 ? ", ..." : "")
                    let names = values.compactMap(\.stringValue)
                    suggestion = requirement.value.stringValue.flatMap { Spelling.closest(to: $0, among: names) }
                        .map { "\(requirement.key): \($0)" }
                    break
                }
            }
            throw (node["where"] ?? node).error("table row '\(label)' selects no run of group '\(groupName)'",
                                                expected: expected, suggestion: suggestion)
        }
        return RowSpec(label: label, runs: runs, paper: paper, paperOnly: false, note: note)
    }
}
