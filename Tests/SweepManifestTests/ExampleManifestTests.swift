import Foundation
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

/// The manifests users run: each plans at every profile, and they all share one pretraining run
/// of the default backbone (a run's id is its configuration), so running a second
/// manifest never pretrains again.
@Suite struct PaperManifestTests {
    static let manifests = ["ablation", "main", "nyud", "decoders", "locations", "coverage", "cost", "tglora",
                            "backbones", "scale"]

    static func plan(_ name: String, profile: String? = nil) throws -> Plan {
        try ManifestLoader.load(file: repositoryRoot.appendingPathComponent("experiments/\(name).yaml"), profile: profile)
    }

    @Test(arguments: manifests) func plansWithItsTablesAtEveryProfile(_ name: String) throws {
        let full = try Self.plan(name), smoke = try Self.plan(name, profile: "smoke")
        #expect(!full.tables.isEmpty)
        #expect(smoke.runs.count < full.runs.count)
        #expect(Set(full.tables.flatMap { $0.rows.flatMap(\.runs) }).isSubset(of: Set(full.runs.map(\.id))))
    }

    @Test func everyManifestSharesThePretrainingRun() throws {
        let pretraining = try Set(Self.manifests.map { name in
            try Self.plan(name).runs.filter { $0.config.objectValue?["kind"] == .string("pretrain") }
                .filter { $0.config.objectValue?["pretrain_set"] == .string("1k")
                    && $0.config.objectValue?["backbone"] == .string("swin_mini") }.map(\.id)
        }.map { Set($0) })
        #expect(pretraining.count == 1, "the 1k pretraining runs differ between manifests: \(pretraining)")
        #expect(pretraining.first?.count == 1)
    }
}
