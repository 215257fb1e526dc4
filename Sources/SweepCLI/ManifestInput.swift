import ArgumentParser
import Foundation
import SweepCore
import SweepManifest

/// Loads the manifest a command was given. A malformed manifest is printed as the loader
/// reports it (file, line, key, what was expected) and ends the command with exit code 2,
/// before anything is written or started.
struct ManifestInput {
    var file: String
    var overrides: [String]
    var profile: String?
    var maxRuns: Int

    init(file: String, overrides: [String], profile: String?, maxRuns: Int = ManifestLimits.defaultMaxRuns) {
        self.file = file; self.overrides = overrides; self.profile = profile; self.maxRuns = maxRuns
    }

    init(_ arguments: ManifestArguments) {
        self.init(file: arguments.file, overrides: arguments.overrides, profile: arguments.profile, maxRuns: arguments.maxRuns)
    }

    func plan() throws -> Plan {
        do {
            return try ManifestLoader.load(file: URL(fileURLWithPath: file), overrides: overrides, profile: profile,
                                           limits: ManifestLimits(maxRuns: maxRuns))
        } catch let error as ManifestError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
