import Foundation
import RunContract
import SweepCore
import Testing
@testable import SweepManifest

/// The planner may change how it expands a grid (streaming, compact records), never what it
/// plans: a small manifest that uses every construct is pinned, run by run, to the plan the
/// planner made before `sweep plan` was reworked for million-run grids (issue 20, item 7).
@Suite struct PlanPinTests {
    let fixture = ManifestFixture()

    static let manifest = """
        name: pinned
        engine: {command: [./train.sh, "{config}"], identity: pinned-engine}
        seeds: [0, 1]
        defaults: {epochs: 3, optimizer: {name: adamw, lr: 0.001}}
        presets:
          mtlora: {method: mtlora, r_task: 4}
          faar: {preset: mtlora, method: faar, optimizer.lr: 0.0005}
        conditionals:
          - when: {method: faar}
            set: {pdrs: true}
        groups:
          finetune:
            rows:
              - {label: MTLoRA, preset: mtlora}
              - {label: FAAR, preset: faar}
            grid: {backbone: [tiny, base], rank: [4, 8]}
            zip:
              - {rho_shared: [0.9, 0.95], rho_task: [0.8, 0.85]}
            include:
              - {label: extra, backbone: tiny, rank: 32, method: lora}
            exclude:
              - {method: faar, rank: 8, rho_shared: 0.95}
            needs:
              pretrain: {group: pretrain, match: [backbone], where: {seed: 0}}
            set: {weights: "${needs.pretrain}/backbone.safetensors"}
          pretrain:
            grid: {backbone: [tiny, base]}
            set: {phase: pretrain, epochs: 5}
          again:
            grid: {method: [mtlora]}
            set: {backbone: tiny, rank: 4, seed_note: x}
          solo:
            rows:
              - {label: FAAR, preset: faar}
              - {label: MTLoRA, preset: mtlora, epochs: 7}
        tables:
          t:
            columns: [semseg]
            rows:
              - {label: MTLoRA, group: finetune}
              - {label: FAAR, group: finetune}
        """

    /// Every run in plan order with its group, label, seed, dependencies and axes. The id pins the
    /// config: it is the hash of its canonical form (and the engine identity).
    static func text(_ plan: Plan) -> String {
        plan.runs.map { run in
            let needs = run.needs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return "\(run.id) \(run.group) \(run.label ?? "-") \(run.seed) [\(needs)] \(JSONValue.object(run.axes).canonical)\n"
        }.joined()
    }

    @Test func aSmallGridPlansExactlyTheRunsAndIdsItAlwaysHas() throws {
        let plan = try fixture.plan(Self.manifest, overrides: ["epochs=4", "seed_note=x,y"])
        for run in plan.runs { #expect(run.id == RunID(config: run.config, engine: plan.engine)) }
        #expect(plan.runs.count == Self.count)
        #expect(plan.runs.prefix(3).map(\.id.rawValue) == Self.firstIDs)
        // Computed by `sweep plan --json` of the manifest before the rework (commit 6812118).
        #expect(SHA256Hex.of(Data(Self.text(plan).utf8)) == Self.digest, "\(Self.text(plan))")
        #expect(plan.tables[0].rows.map(\.runs.count) == Self.tableRows)
    }

    static let count = 80
    static let firstIDs = ["6a5c1c54440994fb", "4b5d824499c8a5a4", "bb1b2b195e9ec77c"]
    static let digest = "8d0204eb3cfd56f33de9f6b0df770ae0f257e6adca84c21ffdb9ae8daf9f2df6"
    static let tableRows = [32, 24]
}
