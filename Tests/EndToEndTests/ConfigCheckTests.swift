import Foundation
import Testing

extension EndToEnd {
    /// `sweep plan` and `sweep run` have the engine check every config first (docs/cli.md,
    /// "Checked before anything starts").
    @Suite struct ConfigCheck {
        /// issue 20's case: `rank=-1` used to start the pretraining run, fail it, retry it and skip
        /// the rest. Now nothing starts, and every run is listed with the override to blame.
        @Test func aRejectedConfigStartsNothingAndNamesWhereTheValueCameFrom() async throws {
            let scratch = try Engine.projectScratch()
            for command in ["plan", "run"] {
                let result = try await scratch.sweep([command, "experiments/ablation.yaml", "rank=-1"], limit: .seconds(120))
                #expect(result.status == 2, "\(command): \(result.output)")
                #expect(result.stderr.contains("the engine rejects the config of 34 of 34 runs; nothing was started"),
                        "\(command): \(result.output)")
                #expect(result.stderr.contains("key 'rank': expected an integer in 1...4096, got -1 (34 runs)"), "\(result.output)")
                #expect(result.stderr.components(separatedBy: "'rank' from override 'rank=-1'").count == 35, "\(result.output)")
            }
            #expect(!FileManager.default.fileExists(atPath: scratch.workspace.path))
        }

        /// A value written in the manifest is named by its file, line and column.
        @Test func aManifestValueIsNamedByItsLine() async throws {
            let scratch = try Engine.projectScratch()
            let text = try String(contentsOf: scratch.root.appendingPathComponent("experiments/ablation.yaml"), encoding: .utf8)
            let broken = text.replacingOccurrences(of: "  low: {rank: 4}", with: "  low: {rank: 0}")
            #expect(broken != text)
            _ = try scratch.write("experiments/broken.yaml", broken)
            let line = broken.components(separatedBy: "\n").firstIndex { $0.contains("low: {rank: 0}") }! + 1
            let result = try await scratch.sweep(["plan", "experiments/broken.yaml"], limit: .seconds(120))
            #expect(result.status == 2, "\(result.output)")
            #expect(result.stderr.contains("rejects the config of 6 of "), "\(result.output)")
            #expect(result.stderr.contains("'rank' from experiments/broken.yaml:\(line):9"), "\(result.output)")
        }
    }
}
