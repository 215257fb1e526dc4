import ArgumentParser
import Foundation
import SweepCore
import SweepExecute
import SweepManifest

/// `sweep plan` and `sweep run` ask the engine about every config of the plan before anything
/// starts. A rejected config ends the command with exit code 2, listing each rejected run and
/// where the offending value came from (the manifest's line, a profile, or an override).
struct ConfigGate {
    let manifest: ManifestArguments

    func check(_ plan: Plan) async throws {
        let outcome: ConfigCheck.Outcome
        do {
            outcome = try await ConfigCheck(plan: plan, manifestDirectory: manifest.url.deletingLastPathComponent()).check(plan)
        } catch {
            FileHandle.standardError.write(Data(("error: \(manifest.file): \(error)\n"
                + "  (--skip-config-check goes on without the engine's check)\n").utf8))
            throw ExitCode(2)
        }
        guard case .checked(_, let runs, let rejections) = outcome, !rejections.isEmpty else { return }
        FileHandle.standardError.write(Data(report(rejections, of: runs, plan: plan).utf8))
        throw ExitCode(2)
    }

    /// Every rejected run, grouped by problem, each with the origin of the key to blame.
    func report(_ rejections: [ConfigCheck.Rejection], of total: Int, plan: Plan) -> String {
        var keys: [RunID: String] = [:]
        for rejection in rejections { if let key = rejection.key { for id in rejection.runs { keys[id] = key } } }
        let origins = (try? ManifestLoader.origins(of: keys, file: manifest.url, overrides: manifest.overrides,
                                                   profile: manifest.profile,
                                                   limits: ManifestLimits(maxRuns: manifest.maxRuns))) ?? [:]
        let rejected = rejections.reduce(0) { $0 + $1.runs.count }
        var out = "error: \(manifest.file): the engine rejects the config of \(rejected) of \(total) run\(total == 1 ? "" : "s"); "
            + "nothing was started\n"
        for rejection in rejections {
            out += "  " + (rejection.key.map { "key '\($0)': " } ?? "") + rejection.message
                + " (\(rejection.runs.count) run\(rejection.runs.count == 1 ? "" : "s"))\n"
            for id in rejection.runs {
                guard let run = plan.run(id) else { continue }
                var line = "    \(id)  \(Self.describe(run))"
                if let key = rejection.key {
                    line += origins[id].map { ": '\(key)' from \($0)" } ?? ": '\(key)' not set by the manifest (the engine's default)"
                }
                out += line + "\n"
            }
        }
        return out
    }

    /// "group grid, adapter=lora rank=4, seed 0" / "group rows, label 'FAAR', seed 1".
    static func describe(_ run: PlannedRun) -> String {
        var parts = ["group \(run.group)"]
        if let label = run.label { parts.append("'\(label)'") }
        let axes = run.axes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.description)" }
        if !axes.isEmpty { parts.append(axes.joined(separator: " ")) }
        parts.append("seed \(run.seed)")
        return parts.joined(separator: ", ")
    }
}
