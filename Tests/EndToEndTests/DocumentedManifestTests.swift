import Foundation
import Testing

extension EndToEnd {
    /// Every manifest a user is shown must run: each file under experiments/ and each manifest
    /// snippet (a YAML block with a top-level `groups:`) of README.md and docs/ plans, and the
    /// real mtl-engine accepts every config it resolves (`sweep plan` checks them all), at the
    /// default profile and at `smoke` where the manifest has one.
    @Suite struct DocumentedManifests {
        static let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()

        /// experiments/ paths of the manifests (data files and the papers' numbers are not manifests).
        static func manifestFiles() throws -> [String] {
            let experiments = projectRoot.appendingPathComponent("experiments")
            let files = FileManager.default.enumerator(at: experiments, includingPropertiesForKeys: nil)!
                .compactMap { $0 as? URL }.filter { $0.pathExtension == "yaml" }
            return try files.filter { Self.isManifest(try String(contentsOf: $0, encoding: .utf8)) }
                .map { "experiments/" + $0.path.dropFirst(experiments.path.count + 1) }.sorted()
        }

        static func isManifest(_ text: String) -> Bool {
            text.split(separator: "\n").contains { $0.hasPrefix("groups:") }
        }

        /// (where it is written, its text) of every manifest snippet in README.md and docs/*.md.
        static func snippets() throws -> [(place: String, text: String)] {
            let docs = projectRoot.appendingPathComponent("docs")
            let pages = ["README.md"] + (try FileManager.default.contentsOfDirectory(atPath: docs.path))
                .filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
            var found: [(String, String)] = []
            for page in pages {
                let lines = try String(contentsOf: projectRoot.appendingPathComponent(page), encoding: .utf8)
                    .components(separatedBy: "\n")
                var index = 0
                while index < lines.count {
                    defer { index += 1 }
                    guard lines[index] == "```yaml" || lines[index] == "```yml" else { continue }
                    let start = index + 1
                    var end = start
                    while end < lines.count, lines[end] != "```" { end += 1 }
                    let text = lines[start..<end].joined(separator: "\n") + "\n"
                    if isManifest(text) { found.append(("\(page):\(start)", text)) }
                    index = end
                }
            }
            return found
        }

        @Test func thereAreManifestsAndSnippetsToCheck() throws {
            #expect(try Self.manifestFiles().count >= 12)
            #expect(try Self.snippets().count >= 4)
        }

        @Test func everyExperimentsManifestPlansAndItsConfigsAreValid() async throws {
            let scratch = try Engine.projectScratch()
            // What a manifest reads from outside the repository, made small in the scratch folder:
            // torch-reference.yaml's torch group trains on scenes `mtl-engine export` writes.
            let export = scratch.root.appendingPathComponent("synthetic-pascal")
            for split in ["train", "val"] {
                let process = try Process.run(try Engine.binary(), arguments: ["export", "--dataset", "pascal", "--split", split,
                                                                                "--count", "1", "--out", export.path])
                process.waitUntilExit()
                try #require(process.terminationStatus == 0, "mtl-engine export --split \(split) failed")
            }
            let outside = ["experiments/torch-reference.yaml": ["groups.torch.set.data_root=\(export.path)"]]
            for file in try Self.manifestFiles() {
                let text = try String(contentsOf: scratch.root.appendingPathComponent(file), encoding: .utf8)
                for profile in text.contains("smoke:") || text.contains("include: [common.yaml]") ? [nil, "smoke"] : [nil] {
                    let result = try await scratch.sweep(["plan", file] + (outside[file] ?? [])
                                                         + (profile.map { ["--profile", $0] } ?? []), limit: .seconds(120))
                    #expect(result.status == 0, "\(file) \(profile ?? ""): \(result.output)")
                }
            }
        }

        @Test func everyManifestSnippetInTheDocsPlansAndItsConfigsAreValid() async throws {
            let scratch = try Engine.projectScratch()
            for (index, snippet) in try Self.snippets().enumerated() {
                // Beside the examples, so that relative file names resolve as in experiments/examples/.
                let file = "experiments/examples/snippet-\(index).yaml"
                _ = try scratch.write(file, snippet.text)
                let result = try await scratch.sweep(["plan", file], limit: .seconds(120))
                #expect(result.status == 0, "\(snippet.place): \(result.output)")
            }
        }

        /// The example docs/manifest.md points to runs whole at the smoke profile, and writes its table.
        @Test func thePipelineExampleRunsAtTheSmokeProfile() async throws {
            let scratch = try Engine.projectScratch()
            let result = try await scratch.sweep(["run", "experiments/examples/pipeline.yaml", "--profile", "smoke"],
                                                 limit: .seconds(900))
            #expect(result.status == 0, "\(result.output)")
            #expect(FileManager.default.fileExists(
                atPath: scratch.root.appendingPathComponent("results/pipeline-example-smoke/adapters.md").path), "\(result.output)")
        }
    }
}
