import Foundation
import Testing

extension EndToEnd {
    @Suite struct Failures {
        /// A failed run is retried within its budget, recorded with its exit code and stderr,
        /// and its dependents are skipped with the reason while the rest of the grid goes on.
        @Test func aFailedRunSkipsItsDependentsAndTheRestContinues() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("failure.yaml", Manifests.failingDependency(retries: 1))
            let result = try await scratch.sweep(["run", "failure.yaml"])
            #expect(result.status == 1, "\(result.output)")
            let runs = try await scratch.status()
            let failed = try #require(runs.values.first { $0.group == "pretrain" && $0.label == "B" })
            #expect(failed.state == "failed" && failed.exit_code == 3 && failed.attempts == 2)
            #expect(scratch.count("start")[failed.id] == 2)
            let skipped = runs.values.filter { $0.state == "skipped" }
            #expect(skipped.count == 2)
            #expect(skipped.allSatisfy { $0.reason?.contains("needs `pretrain` (run \(failed.id)), which failed") == true })
            #expect(skipped.allSatisfy { scratch.count("start")[$0.id] == nil })
            #expect(runs.values.filter { $0.state == "succeeded" }.count == 3)

            let show = try await scratch.sweep(["show", failed.id])
            #expect(show.stdout.contains("engine.sh: error: CUDA out of memory"), "\(show.output)")

            // Its retry budget is spent: running again does not start it, and still exits 1.
            let again = try await scratch.sweep(["run", "failure.yaml"])
            #expect(again.status == 1)
            #expect(scratch.count("start")[failed.id] == 2)
            #expect(again.stdout.contains("1 failed"), "\(again.output)")
        }

        /// --fail-fast: after the first run that fails for good, nothing new starts.
        @Test func failFastStopsLaunching() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("failure.yaml", Manifests.failingDependency(slots: 1, retries: 0))
            let result = try await scratch.sweep(["run", "failure.yaml", "--fail-fast"])
            #expect(result.status == 1, "\(result.output)")
            #expect(result.stdout.contains("--fail-fast"), "\(result.output)")
            let runs = try await scratch.status()
            // The grid runs on backbone a never started; those on b were skipped with their dependency.
            let grid = runs.values.filter { $0.group == "grid" }
            #expect(grid.filter { $0.state == "new" }.count == 2 && grid.filter { $0.state == "skipped" }.count == 2)
            #expect(Set(scratch.count("start").keys) == Set(runs.values.filter { $0.group == "pretrain" }.map(\.id)))
        }
    }
}
