import Foundation
import RunContract
import Testing

extension EndToEnd {
    /// The real `mtl-engine` (built beside `sweep`) rather than the stand-in.
    @Suite struct Engine {
        static func binary() throws -> URL {
            let engine = try SweepProcess.requireBinary().deletingLastPathComponent().appendingPathComponent("mtl-engine")
            try #require(FileManager.default.isExecutableFile(atPath: engine.path), "mtl-engine is not beside sweep: run `swift build`")
            return engine
        }

        /// SIGTERM stops a training run within seconds with exit code 3 and no metrics; the same
        /// command then continues from the checkpoint, so every epoch is trained exactly once.
        /// (A signal to the test process itself would stop the other tests' in-process runs.)
        @Test func sigtermStopsTheEngineAndTheSameCommandResumes() async throws {
            let scratch = try Scratch()
            let run = scratch.root.appendingPathComponent("run")
            try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
            let config = run.appendingPathComponent(RunFiles.config)
            try #"{"kind": "single_task", "task": "semseg", "profile": "smoke", "epochs": 4, "train_images": 256}"#
                .write(to: config, atomically: true, encoding: .utf8)
            let arguments = ["--config", config.path, "--out", run.path]
            let environment = ProcessInfo.processInfo.environment.merging([RunEnvironment.threads: "1"]) { $1 }
            let log = scratch.root.appendingPathComponent("engine.log")
            let progress = run.appendingPathComponent(RunFiles.progress)

            let engine = try ChildProcess(try Self.binary().path, arguments, in: nil, environment: environment,
                                          stdout: log, stderr: log)
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(60))
            while ContractJSON.readProgress(at: progress).isEmpty, engine.isRunning, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(engine.isRunning, "the run ended before it could be stopped")
            let signalled = clock.now
            kill(engine.pid, SIGTERM)
            let stopped = await engine.wait()
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            #expect(stopped == 3, "\(output)")
            #expect(clock.now - signalled < .seconds(10))
            #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent(RunFiles.metrics).path))
            let before = ContractJSON.readProgress(at: progress).map(\.epoch)
            #expect(!before.isEmpty && before.count < 4)

            let resumed = try ChildProcess(try Self.binary().path, arguments, in: nil, environment: environment,
                                           stdout: log, stderr: log)
            #expect(await resumed.wait() == 0, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            #expect(ContractJSON.readProgress(at: progress).map(\.epoch) == Array(1...4))
            let metrics = try JSONDecoder().decode(RunMetrics.self,
                                                   from: Data(contentsOf: run.appendingPathComponent(RunFiles.metrics)))
            #expect(metrics.epochSeconds.count == 4)
        }

        /// issue 5's check of the main job: `sweep run experiments/ablation.yaml --profile smoke`
        /// with the real engine. The table's cells are its runs' metrics and Δm is computed from
        /// them; the page beside it (index.html) holds the table, the runs behind its rows and
        /// their training curves, and passes the browser check; running again starts nothing; a
        /// sweep killed midway and run again writes the same table, byte for byte.
        @Test func theSmokeAblationTableComesFromItsRunsAndSurvivesAKill() async throws {
            let whole = try Self.projectScratch()
            let first = try await whole.sweep(["run", "experiments/ablation.yaml", "--profile", "smoke"], limit: .seconds(900))
            try #require(first.status == 0, "\(first.output)")
            let table = whole.root.appendingPathComponent("results/ablation-smoke/ablation")
            let csv = try String(contentsOf: table.appendingPathExtension("csv"), encoding: .utf8)
            let runs = try await whole.status()
            try Self.expectCells(csv: csv, runs: runs, workspace: whole.workspace)
            let page = whole.root.appendingPathComponent("results/ablation-smoke/index.html")
            try Self.expectPage(page, runs: runs, workspace: whole.workspace, table: "ablation")
            try await Self.browserCheck(page)

            let again = try await whole.sweep(["run", "experiments/ablation.yaml", "--profile", "smoke"], limit: .seconds(120))
            #expect(again.status == 0, "\(again.output)")
            #expect(try await whole.status().mapValues(\.attempts) == runs.mapValues(\.attempts), "a finished grid ran again")

            let killed = try Self.projectScratch()
            let sweep = try killed.start(["run", "experiments/ablation.yaml", "--profile", "smoke"])
            // The pretraining and a few of the runs that need it.
            _ = try await killed.killWhenSucceeded(sweep, 4, within: .seconds(600), polling: .milliseconds(200))
            let succeededBefore = try await killed.status().filter { $0.value.state == "succeeded" }
            let resumed = try await killed.sweep(["run", "experiments/ablation.yaml", "--profile", "smoke"], limit: .seconds(900))
            #expect(resumed.status == 0, "\(resumed.output)")
            let after = try await killed.status()
            #expect(after.count == runs.count && after.values.allSatisfy { $0.state == "succeeded" })
            for (id, run) in succeededBefore { #expect(after[id]?.attempts == run.attempts, "\(run.label ?? id) ran again") }
            let resumedTable = killed.root.appendingPathComponent("results/ablation-smoke/ablation")
            for format in ["csv", "md", "tex"] {
                #expect(try String(contentsOf: resumedTable.appendingPathExtension(format), encoding: .utf8)
                        == String(contentsOf: table.appendingPathExtension(format), encoding: .utf8), "\(format) differs")
            }
        }

        /// A scratch folder holding a copy of the project's experiments/.
        static func projectScratch() throws -> Scratch {
            let scratch = try Scratch()
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            try FileManager.default.copyItem(at: root.appendingPathComponent("experiments"),
                                             to: scratch.root.appendingPathComponent("experiments"))
            // What the manifests' engines name beside them: experiments/torch-reference.yaml runs
            // `../bench/torch_engine.py`, which imports python/sweep_engine.py and finds the bundled
            // backbone through `bench/..`, so bench/ is linked, not copied.
            for folder in ["bench", "python"] {
                try FileManager.default.createSymbolicLink(at: scratch.root.appendingPathComponent(folder),
                                                           withDestinationURL: root.appendingPathComponent(folder))
            }
            return scratch
        }

        /// Every ablation row's task cells are its one smoke run's metrics (2 decimals), and its Δm
        /// is MTLoRA's: the mean over tasks of the signed relative change against the single-task
        /// runs, in %.
        static func expectCells(csv: String, runs: [String: StatusRun], workspace: URL) throws {
            func metrics(_ run: StatusRun) throws -> RunMetrics {
                let file = workspace.appendingPathComponent("runs").appendingPathComponent(run.id)
                    .appendingPathComponent(RunFiles.metrics)
                return try JSONDecoder().decode(RunMetrics.self, from: Data(contentsOf: file))
            }
            var reference: [String: TaskMetric] = [:]
            for run in runs.values where run.group == "single_task" {
                for (task, metric) in try metrics(run).tasks { reference[task] = metric }
            }
            let tasks = ["semseg", "human_parts", "saliency", "normals"]
            try #require(Set(reference.keys) == Set(tasks))

            let lines = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            let header = try #require(lines.first)
            func cell(_ row: [String], _ column: String) throws -> Double {
                let index = try #require(header.firstIndex(of: column), "no column \(column)")
                return try #require(Double(row[index]), "\(row[0]): \(column) is '\(row[index])'")
            }
            #expect(lines.dropFirst().map { $0[0] }.prefix(2) == ["Trivial", "Single Task"])
            let rows = lines.dropFirst().filter { $0.first != "Single Task" }
            #expect(rows.count == 10)
            for row in rows {
                let group = row[0] == "Trivial" ? "trivial" : "ablation"
                let run = try #require(runs.values.first { $0.group == group && ($0.label == row[0] || group == "trivial") },
                                       "no run for \(row[0])")
                let result = try metrics(run)
                var change = 0.0
                for task in tasks {
                    let value = try #require(result.tasks[task]).value
                    #expect(abs(try cell(row, "\(task).mean") - value) <= 0.0051, "\(row[0]) \(task)")
                    let base = try #require(reference[task])
                    change += (base.direction == .higher ? 1 : -1) * (value - base.value) / base.value
                }
                #expect(abs(try cell(row, "delta_m.mean") - 100 * change / Double(tasks.count)) <= 0.0051, "\(row[0]) Δm")
            }
        }
    }
}
