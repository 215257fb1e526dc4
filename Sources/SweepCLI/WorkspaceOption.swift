import ArgumentParser
import Foundation
import SweepCore
import SweepManifest

/// `--workspace DIR`, shared by every command that reads or writes the ledger.
struct WorkspaceOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Where the ledger and run directories live.", valueName: "dir"))
    var workspace: String = ".sweep"

    var value: Workspace {
        Workspace(root: URL(fileURLWithPath: workspace, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL)
    }
}

/// The manifest and what changes it for this invocation: `FILE [key=value ...] [--profile P]`.
struct ManifestArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("The sweep manifest (YAML).", valueName: "file"))
    var file: String

    @Argument(help: ArgumentHelp("Overrides in the style `key=value`, e.g. `epochs=5 seeds=[0,1]`; a sweep `rank=4,8` or "
                                 + "`rank=range(4,12,4)` adds a grid axis.", valueName: "overrides"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("A profile the manifest defines, or one of mtl-engine's scales (smoke, default, paper).",
                               valueName: "name"))
    var profile: String?

    @Option(help: ArgumentHelp("Refuse a plan of more runs than this, before expanding it.", valueName: "n"))
    var maxRuns: Int = ManifestLimits.defaultMaxRuns

    var url: URL { URL(fileURLWithPath: file).standardizedFileURL }

    func validate() throws {
        if maxRuns < 1 { throw ValidationError("--max-runs must be at least 1, not \(maxRuns)") }
    }
}

/// An optional manifest narrowing a command to the runs it plans: `[FILE [key=value ...]] [--profile P]`.
struct OptionalManifestArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("A manifest: only the runs it plans.", valueName: "file"))
    var file: String?

    @Argument(help: ArgumentHelp("Overrides for FILE, as for `sweep run`.", valueName: "overrides"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("The manifest profile, as for `sweep run`.", valueName: "name"))
    var profile: String?

    @Option(help: ArgumentHelp("Refuse a plan of more runs than this, as for `sweep run`.", valueName: "n"))
    var maxRuns: Int = ManifestLimits.defaultMaxRuns

    /// The plan of FILE, or nil without one.
    func plan() throws -> Plan? {
        try file.map { try ManifestInput(file: $0, overrides: overrides, profile: profile, maxRuns: maxRuns).plan() }
    }
}
