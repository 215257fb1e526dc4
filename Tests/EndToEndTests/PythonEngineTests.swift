import Foundation
import Testing

extension EndToEnd {
    /// python/sweep_engine.py, the run contract for Python engines, driven through `sweep` with the
    /// toy engine written with it (Fixtures/toy_engine.py): it runs, is interrupted, resumes to the
    /// same bits, and fails cleanly. Skipped without python3, except in CI (`CI` set: failed).
    @Suite struct PythonEngine {
        /// One run of the toy engine (seed 7), or one per row; `validate` declares its config check.
        static func manifest(rows: [String] = [], validate: Bool = true) -> String {
            var lines = ["name: toy", "engine:", "  command: [./toy_engine.py, --config, \"{config}\", --out, \"{out}\"]"]
            if validate { lines.append("  validate: [./toy_engine.py, --check]") }
            lines += ["executor: {slots: 1, threads: 1, retries: 1}",
                      "defaults: {epochs: 4, steps: 4, step_seconds: 0.1, lr: 0.1}",
                      "groups:", "  fit:", "    seeds: [7]"]
            if !rows.isEmpty { lines += ["    rows:"] + rows.map { "      - \($0)" } }
            return lines.joined(separator: "\n") + "\n"
        }

        /// A run stopped by SIGTERM after its first epoch continues from the helper's checkpoint
        /// and ends with the bits of an uninterrupted run; every epoch completes exactly once.
        @Test func anInterruptedRunResumesToTheSameBits() async throws {
            let reference = try Scratch.withToyEngine(Self.manifest())
            let uninterrupted = try await reference.sweep(["run", "toy.yaml"])
            #expect(uninterrupted.status == 0, "\(uninterrupted.output)")
            let run = try #require(try await reference.status().values.first)
            let expected = try reference.metrics(of: run.id)

            let scratch = try Scratch.withToyEngine(Self.manifest())
            let sweep = try scratch.start(["run", "toy.yaml"])
            let progress = scratch.workspace.appendingPathComponent("runs/\(run.id)/progress.jsonl")
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(20))
            while scratch.finishedEpochs(progress).isEmpty, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            kill(sweep.pid, SIGTERM)
            let stopped = try await sweep.finish()
            #expect(stopped.status == 128 + SIGTERM, "\(stopped.output)")
            #expect(try await scratch.status()[run.id]?.state == "interrupted")
            let before = scratch.finishedEpochs(progress)
            #expect(!before.isEmpty && before.count < 4, "the run should stop part way: \(before)")

            let resumed = try await scratch.sweep(["run", "toy.yaml"])
            #expect(resumed.status == 0, "\(resumed.output)")
            #expect(try await scratch.status()[run.id]?.state == "succeeded")
            #expect(scratch.finishedEpochs(progress) == [1, 2, 3, 4])
            let log = try String(contentsOf: scratch.workspace.appendingPathComponent("runs/\(run.id)/stdout.log"), encoding: .utf8)
            #expect(log.contains("resuming after epoch \(before.count)"), "\(log)")
            let metrics = try scratch.metrics(of: run.id)
            #expect(metrics["tasks"] as? NSDictionary == expected["tasks"] as? NSDictionary)
            #expect(metrics["extra"] as? NSDictionary == expected["extra"] as? NSDictionary)
            #expect((metrics["epoch_seconds"] as? [Double])?.count == 4)
        }

        /// An error is a failure with its traceback in the ledger, retried within the budget; bad
        /// input exits 2 and is not retried; the helper's config check refuses a plan beforehand.
        @Test func failuresAreRecordedCleanly() async throws {
            let rows = [#"{label: "error", fail: "loss is NaN"}"#, #"{label: "bad lr", lr: 1.5}"#]
            let refused = try Scratch.withToyEngine(Self.manifest(rows: rows))
            let plan = try await refused.sweep(["plan", "toy.yaml"])
            #expect(plan.status == 2, "\(plan.output)")
            #expect(plan.stderr.contains("key 'lr': expected a number in (0, 1], got 1.5"), "\(plan.output)")

            let scratch = try Scratch.withToyEngine(Self.manifest(rows: rows, validate: false))
            let result = try await scratch.sweep(["run", "toy.yaml"])
            #expect(result.status == 1, "\(result.output)")
            let runs = try await scratch.status()
            let error = try #require(runs.values.first { $0.label == "error" })
            #expect(error.state == "failed" && error.exit_code == 1 && error.attempts == 2)
            let show = try await scratch.sweep(["show", error.id])
            #expect(show.stdout.contains("RuntimeError: loss is NaN"), "\(show.output)")
            let badInput = try #require(runs.values.first { $0.label == "bad lr" })
            #expect(badInput.state == "failed" && badInput.exit_code == 2 && badInput.attempts == 1)
            let shown = try await scratch.sweep(["show", badInput.id])
            #expect(shown.stdout.contains("bad input: lr: expected a number in (0, 1], got 1.5"), "\(shown.output)")
        }

        /// One manifest, two engines: the shell stand-in for one group, the toy Python engine (its
        /// version in its identity, its own config check) for another; `sweep plan` says which
        /// group uses which, and `sweep run` runs each with its own.
        @Test func groupsRunOnTheEnginesTheyName() async throws {
            let scratch = try Scratch.withToyEngine("""
                name: mixed
                engine:
                  command: [./engine.sh, --config, "{config}", --out, "{out}"]
                engines:
                  toy:
                    command: [./toy_engine.py, --config, "{config}", --out, "{out}"]
                    version: [./toy_engine.py, --version]
                    validate: [./toy_engine.py, --check]
                executor: {slots: 2, threads: 1, retries: 0}
                defaults: {epochs: 2}
                groups:
                  shell: {set: {epoch_seconds: 0.01}}
                  python: {engine: toy, set: {steps: 2, lr: 0.1}}

                """)
            let plan = try await scratch.sweep(["plan", "toy.yaml"])
            #expect(plan.status == 0, "\(plan.output)")
            #expect(plan.stdout.contains("./toy_engine.py --config {config} --out {out} toy-engine 1"), "\(plan.output)")
            #expect(plan.stdout.contains("engine toy"), "\(plan.output)")
            // Each engine checks its own runs: the toy engine's check sees only the Python group's.
            let refused = try await scratch.sweep(["plan", "toy.yaml", "groups.python.set.lr=1.5"])
            #expect(refused.status == 2, "\(refused.output)")
            #expect(refused.stderr.contains("the engine rejects the config of 1 of 1 run"), "\(refused.output)")
            let result = try await scratch.sweep(["run", "toy.yaml"])
            #expect(result.status == 0, "\(result.output)")
            let runs = try await scratch.status()
            #expect(runs.count == 2 && runs.values.allSatisfy { $0.state == "succeeded" })
            let python = try #require(runs.values.first { $0.group == "python" })
            let shell = try #require(runs.values.first { $0.group == "shell" })
            #expect((try scratch.metrics(of: python.id)["engine_version"] as? String) == "toy-engine 1")
            #expect((try scratch.metrics(of: shell.id)["engine_version"] as? String) == "engine.sh 1")
        }
    }
}

extension Scratch {
    /// A scratch folder with the toy engine and the helper beside it, and `manifest` as toy.yaml;
    /// the test is skipped without python3 (failed in CI, which must run it).
    static func withToyEngine(_ manifest: String) throws -> Scratch {
        let python = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        if python == nil {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("CI must run the Python helper's tests, but python3 is not on PATH (.ci/install installs it)")
            }
            try Test.cancel("python3 is not on PATH, so the Python helper's tests are skipped")
        }
        let scratch = try Scratch()
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let files = [here.appendingPathComponent("Fixtures/toy_engine.py"),
                     here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("python/sweep_engine.py")]
        for file in files {
            let copy = scratch.root.appendingPathComponent(file.lastPathComponent)
            try FileManager.default.copyItem(at: file, to: copy)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy.path)
        }
        _ = try scratch.write("toy.yaml", manifest)
        return scratch
    }

    /// A run's metrics.json as a dictionary.
    func metrics(of id: String) throws -> [String: Any] {
        let data = try Data(contentsOf: workspace.appendingPathComponent("runs/\(id)/metrics.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The epochs a progress.jsonl records as finished (lines with step == steps), in order.
    func finishedEpochs(_ progress: URL) -> [Int] {
        let text = (try? String(contentsOf: progress, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = object["step"] as? Int, step == object["steps"] as? Int else { return nil }
            return object["epoch"] as? Int
        }
    }
}
