import RunContract

/// A table to regenerate, as the manifest declares it. The reporter fills it from the
/// ledger; nothing here is a number we measured.
public struct TableSpec: Hashable, Sendable {
    /// File stem under results/<sweep name>/ (e.g. "ablation" -> ablation.md, .tex, .csv).
    public var name: String
    public var title: String
    /// Template name in Templates/ ("rows" for the papers' usual layout, "transposed").
    public var layout: String
    public var columns: [ColumnSpec]
    /// In the manifest's order.
    public var rows: [RowSpec]
    /// Label of the row Δm is measured against (the single-task runs).
    public var referenceRow: String?
    /// Where the published numbers come from ("FAAR, Table 3").
    public var paperSource: String?
    /// The quantity the rows vary ("LoRA scale alpha"), each row at its `RowSpec.x`: the
    /// reporter draws Δm against it (MTLoRA's Fig. 2). nil: the rows are no series.
    public var xAxis: String?
    /// Label of the row of constant predictions (`kind: trivial`): the footer names the columns no
    /// learned row is beyond noise above it in, so a reader sees which columns carry no signal.
    public var trivialRow: String?
    /// Where the manifest names the layout ("m.yaml:12:13"), for errors about its templates.
    public var layoutSource: String?

    public init(name: String, title: String, layout: String = "rows", columns: [ColumnSpec],
                rows: [RowSpec], referenceRow: String? = nil, paperSource: String? = nil) {
        self.name = name; self.title = title; self.layout = layout; self.columns = columns
        self.rows = rows; self.referenceRow = referenceRow; self.paperSource = paperSource
    }
}

/// A column. `key` says what it shows:
/// - a task name ("semseg", "human_parts", "saliency", "normals", "depth"): that task's headline metric;
/// - "delta_m": Δm (%) against the table's reference row;
/// - "params.trainable", "params.total", "params.decoder", "params.backbone": parameters in M;
/// - "gmacs": forward GMACs; "train_seconds": total training time; "epoch_seconds": mean epoch time;
/// - "extra.NAME": a value from metrics.json's `extra`.
public struct ColumnSpec: Hashable, Sendable {
    public var key: String
    public var header: String
    /// nil: taken from the runs' metrics (tasks) or the key's nature (Δm higher, params none).
    public var direction: Direction?
    public var precision: Int

    public init(key: String, header: String, direction: Direction? = nil, precision: Int = 2) {
        self.key = key; self.header = header; self.direction = direction; self.precision = precision
    }
}

/// A row: the runs behind it (usually one per seed; for a single-task reference row, one per
/// task and seed, each contributing the tasks it reports), and the paper's values by column key.
public struct RowSpec: Hashable, Sendable {
    public var label: String
    public var runs: [RunID]
    public var paper: [String: PublishedValue]
    /// A row without runs of ours: only the paper's numbers are shown, marked as such.
    public var paperOnly: Bool
    /// Why a paper-only row has no runs ("the paper gives no rank for this count"); nil: the
    /// engine does not implement the method.
    public var paperOnlyReason: String?
    /// The row's value on the table's `xAxis`.
    public var x: Double?
    /// Where the "grid" layout puts the row: a line and a column of the paper's grid
    /// (TGLoRA Table 3: "PASCAL, 4 tasks" and "shared").
    public var gridPosition: GridPosition?
    public var note: String?

    public init(label: String, runs: [RunID], paper: [String: PublishedValue] = [:], paperOnly: Bool = false,
                paperOnlyReason: String? = nil, note: String? = nil) {
        self.label = label; self.runs = runs; self.paper = paper; self.paperOnly = paperOnly
        self.paperOnlyReason = paperOnlyReason; self.note = note
    }
}

/// A cell of a table laid out as a grid (dataset and tasks down, adaptations across).
public struct GridPosition: Hashable, Sendable {
    public var line: String
    public var column: String

    public init(line: String, column: String) { self.line = line; self.column = column }
}

/// A number as a paper prints it, so tables quote it rather than reformat it: "0.60" keeps its
/// two decimals, "+2.5" its one, and "≈ 41" stays approximate.
public struct PublishedValue: Hashable, Sendable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    public var value: Double
    /// Decimals as printed; nil when unknown (a literal in code): the column's precision applies.
    public var decimals: Int?
    /// Printed with "≈" ("≈ 41" GFLOPs, "≈ 40 hours").
    public var approximate: Bool

    public init(_ value: Double, decimals: Int? = nil, approximate: Bool = false) {
        self.value = value; self.decimals = decimals; self.approximate = approximate
    }

    public init(floatLiteral value: Double) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(Double(value)) }
}
