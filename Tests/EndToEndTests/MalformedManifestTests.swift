import Foundation
import Testing

extension EndToEnd {
    @Suite struct MalformedManifests {
        static let cases: [(name: String, text: String, message: String)] = [
            ("typo.yaml", Manifests.grid().replacingOccurrences(of: "groups:", with: "grups:"), "typo.yaml:"),
            ("syntax.yaml", "name: x\ngroups: [a, b\n", "syntax.yaml:"),
            ("empty-axis.yaml", Manifests.failingDependency().replacingOccurrences(of: "backbone: [a, b]", with: "backbone: []"),
             "empty-axis.yaml:"),
        ]

        /// A malformed manifest is reported with its file and line, exits with status 2, and
        /// starts nothing: no workspace, no engine.
        @Test(arguments: cases.indices)
        func aMalformedManifestStartsNothing(_ index: Int) async throws {
            let (name, text, message) = Self.cases[index]
            let scratch = try Scratch()
            _ = try scratch.write(name, text)
            for command in ["run", "plan", "report"] {
                let result = try await scratch.sweep([command, name])
                #expect(result.status == 2, "\(command): \(result.output)")
                #expect(result.stderr.contains(message), "\(command): \(result.output)")
            }
            #expect(!FileManager.default.fileExists(atPath: scratch.workspace.path))
            #expect(scratch.executions().isEmpty)
        }

        /// A table layout is a pair of templates; one that does not exist is found before any
        /// run starts, not after the grid has run.
        @Test func aLayoutWithoutTemplatesStartsNothing() async throws {
            let scratch = try Scratch()
            let manifest = Manifests.grid().replacingOccurrences(of: "title: \"End-to-end grid\"",
                                                                 with: "title: \"End-to-end grid\"\n    layout: tranposed")
            #expect(manifest.contains("layout: tranposed"))
            _ = try scratch.write("grid.yaml", manifest)
            // `plan` catches it too, and the error names the line of `layout:` (issue 21).
            for command in ["run", "report", "plan"] {
                let result = try await scratch.sweep([command, "grid.yaml"])
                #expect(result.status == 2, "\(command): \(result.output)")
                #expect(result.stderr.contains(/grid\.yaml:\d+:\d+: tables\.main\.layout: table 'main': layout 'tranposed' needs the template/),
                        "\(command): \(result.output)")
                #expect(result.stderr.contains("available layouts: grid, rows, transposed"), "\(command): \(result.output)")
            }
            #expect(!FileManager.default.fileExists(atPath: scratch.workspace.path))
            #expect(scratch.executions().isEmpty)
        }

        @Test func aBadOverrideStartsNothing() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid())
            let result = try await scratch.sweep(["run", "grid.yaml", "epohcs=3"])
            #expect(result.status == 2, "\(result.output)")
            #expect(result.stderr.contains("<command line>"), "\(result.output)")
            #expect(!FileManager.default.fileExists(atPath: scratch.workspace.path))
        }
    }
}
