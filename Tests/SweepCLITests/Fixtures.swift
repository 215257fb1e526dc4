import Foundation
import RunContract
import SweepCore
import SweepLedger

/// A fresh workspace under the temporary directory, removed when the test ends.
final class TemporaryWorkspace {
    let workspace: Workspace
    init() {
        workspace = Workspace(root: FileManager.default.temporaryDirectory
            .appendingPathComponent("sweep-cli-tests-\(UUID().uuidString)"))
    }
    deinit { try? FileManager.default.removeItem(at: workspace.root) }
}

/// A pretraining run and a 2 x 2 grid (method x lr) that needs it, all with 3 epochs.
func pretrainAndGrid(name: String = "ablation") -> Plan {
    let engine = EngineSpec()
    let pretrainConfig = JSONValue.object(["kind": .string("pretrain"), "epochs": .int(3)])
    let pretrain = PlannedRun(id: RunID(config: pretrainConfig, engine: engine), group: "pretrain", seed: 0,
                              config: pretrainConfig)
    var runs = [pretrain]
    for method in ["lora", "mtlora"] {
        for lr in [0.1, 0.01] {
            let config = JSONValue.object(["method": .string(method), "lr": .double(lr), "epochs": .int(3),
                                           "backbone": .string(RunReference.make(pretrain.id))])
            runs.append(PlannedRun(id: RunID(config: config, engine: engine), group: "grid", label: method.uppercased(),
                                   seed: 0, config: config, needs: ["pretrain": pretrain.id],
                                   axes: ["method": .string(method), "lr": .double(lr)]))
        }
    }
    return Plan(name: name, runs: runs, engine: engine)
}

func metrics(epochSeconds: [Double]) -> RunMetrics {
    RunMetrics(engineVersion: "test", tasks: ["semseg": TaskMetric(name: "mIoU", value: 41.25, direction: .higher)],
               parameters: ParameterCounts(trainable: 1_500_000, total: 28_000_000, decoder: 500_000, backbone: 27_500_000),
               gmacs: 4.5, epochSeconds: epochSeconds, ranks: ["stage1.qkv": [8, 6, 4]],
               artifacts: ["weights": "weights.bin"], extra: ["top1": 61.5])
}

extension Ledger {
    /// Claims `id` as this process and records the outcome.
    func settle(_ id: RunID, _ status: RunStatus, metrics: RunMetrics? = nil, exitCode: Int32? = nil,
                stderr: String? = nil, reason: String? = nil) throws {
        guard try claim(id, pid: getpid(), host: Ledger.currentHost, retries: 10, rerun: true) else {
            throw CocoaError(.featureUnsupported)
        }
        if status != .running {
            try finish(id, status: status, exitCode: exitCode, stderrTail: stderr, metrics: metrics, reason: reason)
        }
    }
}
