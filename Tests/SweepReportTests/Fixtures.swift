import Foundation
import RunContract
import SweepCore
@testable import SweepReport

/// A small sweep with hand-checkable numbers: two tasks (semseg ↑, normals ↓), a single-task
/// reference row (one run per task and seed), two multi-task rows over seeds 0 and 1 (one of
/// FAAR's runs failed), and a paper-only row.
enum Fixture {
    static func metrics(_ tasks: [String: TaskMetric], trainable: Int = 2_000_000, version: String = "0.1.0",
                        epochs: [Double] = [10, 12], ranks: [String: [Int]]? = nil) -> RunMetrics {
        RunMetrics(engineVersion: version,
                   tasks: tasks,
                   parameters: ParameterCounts(trainable: trainable, total: 30_000_000, decoder: 500_000,
                                               backbone: 28_000_000),
                   gmacs: 4.5, epochSeconds: epochs, ranks: ranks)
    }

    static func id(_ name: String) -> RunID { RunID(rawValue: name) }

    /// Builds a plan from rows of (run name, seed) and records from run name -> metrics (nil = failed).
    static func plan(name: String = "demo", tables: [TableSpec], seeds: [String: Int]) -> Plan {
        let runs = seeds.keys.sorted().map { run in
            PlannedRun(id: id(run), group: "grid", seed: seeds[run]!, config: .object(["run": .string(run)]))
        }
        return Plan(name: name, runs: runs, tables: tables)
    }

    static func task(_ value: Double, _ direction: Direction) -> TaskMetric {
        TaskMetric(name: direction == .higher ? "mIoU" : "mean angle", value: value, direction: direction)
    }

    static let seeds: [String: Int] = [
        "st-sem-0": 0, "st-sem-1": 1, "st-nor-0": 0, "st-nor-1": 1,
        "mt-0": 0, "mt-1": 1, "faar-0": 0, "faar-1": 1,
    ]

    static let records: [RunID: RunRecord] = {
        let finished: [String: RunMetrics] = [
            "st-sem-0": metrics(["semseg": task(60, .higher)], trainable: 1_500_000),
            "st-sem-1": metrics(["semseg": task(62, .higher)], trainable: 1_500_000),
            "st-nor-0": metrics(["normals": task(20, .lower)], trainable: 1_500_000),
            "st-nor-1": metrics(["normals": task(18, .lower)], trainable: 1_500_000),
            // +10 % on both tasks, then -2 % and +4 % worse: Δm +10 and -3.
            "mt-0": metrics(["semseg": task(67.1, .higher), "normals": task(17.1, .lower)],
                            ranks: ["stage4.fc1.shared": [8, 8, 8], "stage4.fc1.semseg": [4, 4, 4]]),
            "mt-1": metrics(["semseg": task(59.78, .higher), "normals": task(19.76, .lower)],
                            ranks: ["stage4.fc1.shared": [8, 8, 8], "stage4.fc1.semseg": [4, 4, 4]]),
            // PDRS shrinks: average ranks 8, 5, 10/3 per epoch.
            "faar-0": metrics(["semseg": task(64.05, .higher), "normals": task(18.05, .lower)],
                              trainable: 1_234_567, version: "0.1.1",
                              ranks: ["stage4.fc1.shared": [8, 6, 5], "stage4.fc1.semseg": [8, 4, 3],
                                      "stage4.fc1.normals": [8, 5, 2]]),
        ]
        var records: [RunID: RunRecord] = [:]
        for (name, metrics) in finished {
            records[id(name)] = RunRecord(id: id(name), status: .succeeded, attempts: 1, exitCode: 0, metrics: metrics)
        }
        records[id("faar-1")] = RunRecord(id: id("faar-1"), status: .failed, attempts: 2, exitCode: 1)
        return records
    }()

    static func table(layout: String = "rows") -> TableSpec {
        TableSpec(
            name: "ablation", title: "Ablation on PASCAL_Context (ours & paper)", layout: layout,
            columns: [
                ColumnSpec(key: "semseg", header: "SemSeg"),
                ColumnSpec(key: "normals", header: "Normals"),
                ColumnSpec(key: "delta_m", header: "Δm (%)"),
                ColumnSpec(key: "params.trainable", header: "Params (M)"),
            ],
            rows: [
                RowSpec(label: "Single Task", runs: ["st-sem-0", "st-nor-0", "st-sem-1", "st-nor-1"].map(id),
                        paper: ["semseg": 67.21, "normals": 17.97, "delta_m": 0]),
                RowSpec(label: "MTLoRA (r=64)", runs: ["mt-0", "mt-1"].map(id),
                        paper: ["semseg": 67.90, "normals": 16.60, "delta_m": 2.55]),
                RowSpec(label: "FAAR_1+2", runs: ["faar-0", "faar-1"].map(id),
                        paper: ["semseg": 72.02, "normals": 16.35, "delta_m": 5.28], note: "seed 1 failed"),
                RowSpec(label: "DiTASK", runs: [], paper: ["semseg": 69.5, "delta_m": 3.1], paperOnly: true),
            ],
            referenceRow: "Single Task", paperSource: "FAAR, Table 3")
    }

    static var demoPlan: Plan {
        plan(tables: [table(), table(layout: "transposed").renamed("locations")], seeds: seeds)
    }

    /// The repository's Templates/ folder.
    static let templates = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Templates")
}

extension TableSpec {
    func renamed(_ name: String) -> TableSpec {
        var copy = self
        copy.name = name
        return copy
    }
}
