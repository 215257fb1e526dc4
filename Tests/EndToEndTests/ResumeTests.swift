import Foundation
import Testing

extension EndToEnd {
    @Suite struct Resume {
        /// `kill -9` of `sweep` in the middle of a grid, then the same command again: no run that
        /// had succeeded is executed again, none is lost, and the table is the one an
        /// uninterrupted sweep writes.
        @Test func killingSweepThenRunningItAgainResumes() async throws {
            let manifest = Manifests.grid(rows: 3, seeds: 2, epochs: 3, epochSeconds: 0.15)
            let reference = try Scratch()
            _ = try reference.write("grid.yaml", manifest)
            let uninterrupted = try await reference.sweep(["run", "grid.yaml"])
            #expect(uninterrupted.status == 0, "\(uninterrupted.output)")

            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", manifest)
            let sweep = try scratch.start(["run", "grid.yaml"])
            // Kill it once the ledger holds two finished runs, while others are under way.
            let killed = try await scratch.killWhenSucceeded(sweep, 2, within: .seconds(30))
            #expect(killed.status == SIGKILL)

            let before = try await scratch.status()
            let succeededBefore = Set(before.values.filter { $0.state == "succeeded" }.map(\.id))
            #expect(succeededBefore.count >= 2 && succeededBefore.count < 7)
            #expect(!before.values.contains { $0.state == "running" }, "a dead sweep's runs must not stay running")
            let logged = scratch.executions().count

            let resumed = try await scratch.sweep(["run", "grid.yaml"])
            #expect(resumed.status == 0, "\(resumed.output)")
            let startedAgain = scratch.executions().dropFirst(logged).filter { $0.event == "start" }.map(\.run)
            #expect(Set(startedAgain).isDisjoint(with: succeededBefore), "succeeded runs executed again: \(startedAgain)")
            let after = try await scratch.status()
            #expect(after.count == 7 && after.values.allSatisfy { $0.state == "succeeded" })
            #expect(Set(scratch.count("done").keys) == Set(after.keys))
            #expect(Set(after.keys) == Set(try await reference.status().keys))

            let table = { (scratch: Scratch) in
                try String(contentsOf: scratch.root.appendingPathComponent("results/e2e/main.md"), encoding: .utf8)
            }
            #expect(try table(scratch) == table(reference))
        }

        /// SIGTERM (as a scheduler sends it) stops the engines gracefully and records them as
        /// interrupted; running again continues them from their checkpoints.
        @Test func terminatedRunsContinueFromTheirCheckpoint() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 1, seeds: 1, epochs: 4, epochSeconds: 0.4, slots: 1))
            let sweep = try scratch.start(["run", "grid.yaml"])
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(20))
            // Stop it during the grid run (pretraining has finished), after its first epoch.
            func gridRunPastItsFirstEpoch() -> String? {
                let finished = Set(scratch.count("done").keys)
                return scratch.executions().first { $0.event == "epoch-1" && !finished.contains($0.run) }?.run
            }
            while gridRunPastItsFirstEpoch() == nil, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let gridRun = try #require(gridRunPastItsFirstEpoch())
            kill(sweep.pid, SIGTERM)
            let stopped = try await sweep.finish()
            #expect(stopped.status == 128 + SIGTERM, "\(stopped.output)")
            #expect(try await scratch.status()[gridRun]?.state == "interrupted")
            #expect(scratch.count("terminated")[gridRun] == 1)

            let resumed = try await scratch.sweep(["run", "grid.yaml"])
            #expect(resumed.status == 0, "\(resumed.output)")
            // Each epoch ran once: the second attempt started from the first one's checkpoint.
            let epochs = scratch.executions().filter { $0.run == gridRun && $0.event.hasPrefix("epoch-") }.map(\.event)
            #expect(epochs == ["epoch-1", "epoch-2", "epoch-3", "epoch-4"])
            #expect(try await scratch.status()[gridRun]?.state == "succeeded")
        }
    }
}
