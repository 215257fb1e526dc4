import Foundation
import Testing

extension EndToEnd {
    @Suite struct Grid {
        @Test func aGridRunsEveryRunOnceAndWritesItsTables() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 2, seeds: 2))
            let result = try await scratch.sweep(["run", "grid.yaml"])
            #expect(result.status == 0, "\(result.output)")
            let runs = try await scratch.status()
            #expect(runs.count == 5)
            #expect(runs.values.allSatisfy { $0.state == "succeeded" && $0.attempts == 1 })
            #expect(scratch.count("start") == Dictionary(uniqueKeysWithValues: runs.keys.map { ($0, 1) }))
            #expect(scratch.count("done") == Dictionary(uniqueKeysWithValues: runs.keys.map { ($0, 1) }))
            let table = try String(contentsOf: scratch.root.appendingPathComponent("results/e2e/main.md"), encoding: .utf8)
            // R1 scores 45 and seeds 0 and 1 add 0.0 and 0.1: mean 45.05.
            #expect(table.contains("| R1 | **45.05** ± 0.07 |"))
            #expect(result.stdout.contains("wrote results/e2e/main.md"))

            // Nothing is left: the same command runs nothing and `sweep report` rewrites the same table.
            let again = try await scratch.sweep(["run", "grid.yaml"])
            #expect(again.status == 0, "\(again.output)")
            #expect(scratch.count("start").values.allSatisfy { $0 == 1 })
            try FileManager.default.removeItem(at: scratch.root.appendingPathComponent("results"))
            let report = try await scratch.sweep(["report", "grid.yaml"])
            #expect(report.status == 0, "\(report.output)")
            #expect(try String(contentsOf: scratch.root.appendingPathComponent("results/e2e/main.md"), encoding: .utf8) == table)
        }

        @Test func planAndDryRunShowStatesAndStartNothing() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 2, seeds: 1))
            let plan = try await scratch.sweep(["plan", "grid.yaml"])
            #expect(plan.status == 0, "\(plan.output)")
            #expect(plan.stdout.contains("grid.yaml: sweep \"e2e\", 3 runs"))
            #expect(plan.stdout.contains("states: 3 new"))
            #expect(plan.stdout.contains("grid      2 runs  needs pretrain"))
            let dryRun = try await scratch.sweep(["run", "grid.yaml", "--dry-run", "--slots", "1"])
            #expect(dryRun.status == 0, "\(dryRun.output)")
            #expect(dryRun.stdout.contains("would launch 3 of 3 runs"))
            #expect(dryRun.stdout.contains("budget: 1 slot x"))
            #expect(!FileManager.default.fileExists(atPath: scratch.workspace.path))
            #expect(scratch.executions().isEmpty)

            let run = try await scratch.sweep(["run", "grid.yaml"])
            #expect(run.status == 0, "\(run.output)")
            let planned = try await scratch.sweep(["plan", "grid.yaml", "--json"])
            struct Plan: Decodable { var states: [String: Int]; var estimate: Estimate? }
            struct Estimate: Decodable { var runs_to_do: Int; var timed_runs: Int }
            let document = try JSONDecoder().decode(Plan.self, from: Data(planned.stdout.utf8))
            #expect(document.states == ["succeeded": 3])
            #expect(document.estimate?.runs_to_do == 0 && document.estimate?.timed_runs == 3)
            // An override changes the configs, hence the runs: they are new, with an estimate from the past runs.
            let overridden = try await scratch.sweep(["plan", "grid.yaml", "epochs=6"])
            #expect(overridden.stdout.contains("states: 3 new"), "\(overridden.output)")
            #expect(overridden.stdout.contains("of run time for 3 of the 3 runs to do (from 3 finished runs)"))
        }

        @Test func compareSaysWhetherADifferenceExceedsTheSpreadOverSeeds() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 3, seeds: 2))
            #expect(try await scratch.sweep(["run", "grid.yaml"]).status == 0)
            // R2 scores 50 and R0 40, each plus seed/10: the paired differences are 10 and 10.
            let compare = try await scratch.sweep(["compare", "grid.yaml", "--row", "R2", "--against", "R0",
                                                   "--against", "R1", "--out", "r2.md"])
            #expect(compare.status == 0, "\(compare.output)")
            #expect(compare.stdout.hasPrefix("# End-to-end grid\n"))
            #expect(compare.stdout.contains(
                "| R2 − R0 | difference | 95 % CI | n | p | p (Holm) | beyond noise | seeds for 80 % power |"))
            // The same difference at every seed is a fact, not a test; two seeds could not decide one anyway.
            #expect(compare.stdout.contains("| SemSeg mIoU ↑ | +10.00 ± 0.00 | — | 2 | — | — | no variation, better | — |"))
            #expect(compare.stdout.contains("| SemSeg mIoU ↑ | +5.00 ± 0.00 | — | 2 | — | — | no variation, better | — |"))
            #expect(compare.stdout.contains("Warning: R2 − R1 has 2 shared seeds, fewer than 3"))
            #expect(try String(contentsOf: scratch.root.appendingPathComponent("r2.md"), encoding: .utf8)
                    == compare.stdout.replacingOccurrences(of: "wrote r2.md\n", with: ""))

            let unknown = try await scratch.sweep(["compare", "grid.yaml", "--row", "FAAR", "--against", "R0"])
            #expect(unknown.status == 2)
            #expect(unknown.stderr.contains("error: no table of grid.yaml has a row 'FAAR'\n  the rows are\n  main: R0, R1, R2"),
                    "\(unknown.output)")
        }

        @Test func aProfilesTablesGoBesideTheFullOnes() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 1, seeds: 1))
            let quick = try await scratch.sweep(["run", "grid.yaml", "--profile", "quick"])
            #expect(quick.status == 0, "\(quick.output)")
            #expect(quick.stdout.contains("wrote results/e2e-quick/main.md"))
            #expect(!FileManager.default.fileExists(atPath: scratch.root.appendingPathComponent("results/e2e").path))
        }

        @Test func showFindsARunByItsPrefix() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 1, seeds: 1))
            #expect(try await scratch.sweep(["run", "grid.yaml"]).status == 0)
            let runs = try await scratch.status()
            let grid = try #require(runs.values.first { $0.group == "grid" })
            let show = try await scratch.sweep(["show", String(grid.id.prefix(6))])
            #expect(show.status == 0, "\(show.output)")
            #expect(show.stdout.hasPrefix("run \(grid.id)  grid / R0  seed 0\n"))
            #expect(show.stdout.contains("semseg   mIoU ↑        40"))
            #expect(show.stdout.contains("engine.sh: run \(grid.id) attempt 1 from epoch 0 of 3"))
            let unknown = try await scratch.sweep(["show", "ffffffffff"])
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("no run in the ledger has an id starting with 'ffffffffff'"))
        }
    }
}
