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
