import Foundation
import RunContract
import SweepCore
import Testing
@testable import SweepManifest

@Suite struct ExampleManifestTests {
    @Test func pipelineExampleExpands() throws {
        let file = repositoryRoot.appendingPathComponent("experiments/examples/pipeline.yaml")
        let plan = try ManifestLoader.load(file: file)
        #expect(plan.name == "pipeline-example")
        #expect(plan.runs(in: "pretrain").count == 2)
        #expect(plan.runs(in: "single_task").count == 2 * 4 * 3)
        #expect(plan.runs(in: "adapters").count == 3 * 2 * 3)
    }
}

/// The manifests users run: each plans at every profile, and they all share the backbone (the
/// engine's bundled one: no swin_mini manifest pretrains in its grid), the pinned BLAS core and
/// the Trivial and single-task reference runs (a run's id is its configuration), so running a
/// second manifest never repeats them.
@Suite struct PaperManifestTests {
    static let manifests = ["ablation", "main", "nyud", "decoders", "locations", "coverage", "cost", "tglora",
                            "backbones", "scale", "pvt"]

    static func plan(_ name: String, profile: String? = nil) throws -> Plan {
        try ManifestLoader.load(file: repositoryRoot.appendingPathComponent("experiments/\(name).yaml"), profile: profile)
    }

    @Test(arguments: manifests) func plansWithItsTablesAtEveryProfile(_ name: String) throws {
        let full = try Self.plan(name), smoke = try Self.plan(name, profile: "smoke")
        #expect(!full.tables.isEmpty)
        #expect(smoke.runs.count < full.runs.count)
        #expect(Set(full.tables.flatMap { $0.rows.flatMap(\.runs) }).isSubset(of: Set(full.runs.map(\.id))))
    }

    @Test func everyManifestSharesTheBackboneAndTheReferences() throws {
        let pascal = ["ablation", "main", "locations", "coverage", "scale"]
        var references: Set<Set<RunID>> = []
        for name in Self.manifests {
            let plan = try Self.plan(name)
            #expect(plan.engine.blasCore == "Haswell", "\(name) does not pin the BLAS core")
            for run in plan.runs where run.config.objectValue?["kind"] == .string("pretrain") {
                #expect(["backbones", "decoders", "pvt"].contains(name), "\(name) pretrains \(run.id) in its grid")
            }
            for run in plan.runs where run.config.objectValue?["backbone"] == .string("swin_mini")
                && ![JSONValue.string("pretrain"), .string("trivial")].contains(run.config.objectValue?["kind"] ?? .null)
                && name != "backbones" && name != "decoders" {
                #expect(run.config.objectValue?["backbone_weights"] == .string("swin_mini-synthetic-1k"),
                        "\(name): run \(run.id) does not start from the bundled backbone")
            }
            if pascal.contains(name) {
                references.insert(Set(plan.runs.filter { ["single_task", "trivial"].contains($0.group) }.map(\.id)))
            }
        }
        #expect(references.count == 1, "the reference runs differ between manifests")
        #expect(references.first?.count == 4 * 3 + 1)
    }
}
