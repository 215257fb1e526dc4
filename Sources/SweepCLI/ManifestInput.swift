import ArgumentParser
import Foundation
import SweepCore
import SweepLedger
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
            let plan = try ManifestLoader.load(file: URL(fileURLWithPath: file), overrides: overrides, profile: profile,
                                               limits: ManifestLimits(maxRuns: maxRuns))
            for warning in plan.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            return plan
        } catch let error as ManifestError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// A manifest whose runs have no results here may have them under another profile: the user ran
/// `--profile smoke` and then forgot it. Says where they are, or nil.
struct OtherProfileHint {
    var input: ManifestInput

    func message(ledger: Ledger?) -> String? {
        guard let ledger, let names = try? ManifestLoader.profileNames(file: URL(fileURLWithPath: input.file)) else { return nil }
        var found: [(profile: String?, runs: Int)] = []
        let others: [String?] = (input.profile == nil ? [] : [nil]) + names.filter { $0 != input.profile }.map { $0 }
        for profile in others {
            guard let plan = try? ManifestLoader.load(file: URL(fileURLWithPath: input.file), overrides: input.overrides,
                                                      profile: profile),
                  let entries = try? ledger.entries(plan.runs.map(\.id)) else { continue }
            let succeeded = entries.values.filter { $0.status == .succeeded }.count
            if succeeded > 0 { found.append((profile, succeeded)) }
        }
        guard !found.isEmpty else { return nil }
        return found.map { profile, runs in
            "\(runs) run\(runs == 1 ? "" : "s") of this manifest succeeded "
                + (profile.map { "under --profile \($0)" } ?? "without --profile")
        }.joined(separator: "; ")
    }
}
