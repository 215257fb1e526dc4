import Foundation
import Testing

extension EndToEnd {
    @Suite struct Concurrency {
        /// Two `sweep run` of one manifest on one workspace at the same time share the grid:
        /// each run is executed exactly once, and both end successfully.
        @Test func twoSweepsOnOneWorkspaceRunEachRunOnce() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 4, seeds: 2, epochs: 2, epochSeconds: 0.1, slots: 2))
            let first = try scratch.start(["run", "grid.yaml"])
            let second = try scratch.start(["run", "grid.yaml"])
            let (a, b) = (try await first.finish(), try await second.finish())
            #expect(a.status == 0, "\(a.output)")
            #expect(b.status == 0, "\(b.output)")
            let runs = try await scratch.status()
            #expect(runs.count == 9 && runs.values.allSatisfy { $0.state == "succeeded" && $0.attempts == 1 })
            let once = Dictionary(uniqueKeysWithValues: runs.keys.map { ($0, 1) })
            #expect(scratch.count("start") == once)
            #expect(scratch.count("done") == once)
        }
    }
}
