import Foundation
import RunContract
import SweepCore
import Testing

/// Issue 21: a newcomer's first hour. Each test is one item of the issue, through the built binary.
extension EndToEnd {
    @Suite struct Newcomer {
        /// A manifest for our own engine (no `engine:`), for tests that only plan.
        static let bundled = """
            name: newcomer
            seeds: [0, 1]
            profiles:
              quick: {epochs: 1}
              tiny_scale: {profile: smoke, image_size: 32}
            groups:
              pretrain:
                seeds: [0]
                set: {kind: pretrain}
              adapters:
                grid: {adapter: [lora, dora], rank: [4, 16]}
                needs: {pretrain: {group: pretrain}}
                set: {kind: mtl_full, method: lora, dataset: nyud, pretrained: "${needs.pretrain}/backbone.safetensors"}
            tables:
              x:
                columns: [semseg, depth]
                rows:
                  - {label: "LoRA r=4", group: adapters, where: {adapter: lora, rank: 4}}
                  - {label: "DoRA r=16", group: adapters, where: {adapter: dora, rank: 16}}

            """

        struct PlanDocument: Decodable {
            struct Run: Decodable { var id: String; var group: String; var config: [String: JSONValue]; var axes: [String: JSONValue] }
            var runs: [Run]
            var profile: String?
        }

        // MARK: item 1

        /// A misspelled group or axis in an override is an error with a suggestion; `+` adds one.
        @Test func structuralOverrideTyposAreRefusedUnlessPlusAdds() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("m.yaml", Self.bundled)
            let group = try await scratch.sweep(["plan", "m.yaml", "groups.adaptors.grid.rank=[4]"])
            #expect(group.status == 2, "\(group.output)")
            #expect(group.stderr.contains("no group 'adaptors'") && group.stderr.contains("did you mean 'adapters'?"), "\(group.output)")
            let axis = try await scratch.sweep(["plan", "m.yaml", "groups.adapters.grid.ranks=[4]"])
            #expect(axis.status == 2, "\(axis.output)")
            #expect(axis.stderr.contains("no axis 'ranks' of group 'adapters'") && axis.stderr.contains("did you mean 'rank'?"),
                    "\(axis.output)")
            let narrowed = try await scratch.sweep(["plan", "m.yaml", "groups.adapters.grid.rank=[4]", "--json"])
            #expect(narrowed.status == 0, "\(narrowed.output)")
            let added = try await scratch.sweep(["plan", "m.yaml", "+groups.adapters.grid.task_rank=[2,4]", "--json"])
            #expect(added.status == 0, "\(added.output)")
            let plan = try JSONDecoder().decode(PlanDocument.self, from: Data(added.stdout.utf8))
            #expect(plan.runs.filter { $0.group == "adapters" }.count == 16)
        }

        // MARK: item 2

        /// Any profile name works with our engine: config key `profile` is the engine's scale,
        /// set by smoke/default/paper (declared or not) or by a profile's own `profile:` entry.
        @Test func anyProfileNameWorksWithOurEngine() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("m.yaml", Self.bundled)
            func plan(_ profile: String) async throws -> PlanDocument {
                let result = try await scratch.sweep(["plan", "m.yaml", "--profile", profile, "--json"])
                try #require(result.status == 0, "\(result.output)")
                return try JSONDecoder().decode(PlanDocument.self, from: Data(result.stdout.utf8))
            }
            let quick = try await plan("quick")
            #expect(quick.profile == "quick")
            #expect(quick.runs.allSatisfy { $0.config["profile"] == nil && $0.config["epochs"] == .int(1) })
            #expect(try await plan("smoke").runs.allSatisfy { $0.config["profile"] == .string("smoke") })
            #expect(try await plan("tiny_scale").runs.allSatisfy { $0.config["profile"] == .string("smoke") })
            let unknown = try await scratch.sweep(["plan", "m.yaml", "--profile", "quik"])
            #expect(unknown.status == 2 && unknown.stderr.contains("did you mean 'quick'?"), "\(unknown.output)")
        }

        // MARK: item 3

        /// The README's tour, run as written (with the real engine at smoke scale); `sweep show`
        /// gets a real run id.
        @Test func theReadmeTourRunsAsWritten() async throws {
            let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
            let tour = try #require(readme.range(of: "## A tour")).upperBound
            let text = String(readme[tour...])
            let yaml = try #require(Self.block("yaml", in: text))
            let commands = try #require(Self.block("sh", in: text)).split(separator: "\n").map { line in
                String(line.prefix { $0 != "#" || line.contains("\"#") }).trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty }
            #expect(commands.count >= 6)
            let scratch = try Scratch()
            _ = try scratch.write("tiny.yaml", yaml)
            for command in commands {
                var arguments = Self.words(command)
                try #require(arguments.first == "sweep", "not a sweep command: \(command)")
                arguments.removeFirst()
                if arguments.first == "show" {
                    let runs = try await scratch.status()
                    arguments[1] = String(try #require(runs.keys.sorted().first).prefix(6))
                }
                let result = try await scratch.sweep(arguments, limit: .seconds(900))
                #expect(result.status == 0, "\(command): \(result.output)")
                if arguments.first == "compare" {
                    // Two seeds: a warning that says how many the spread would need.
                    #expect(result.stderr.contains("warning:") && result.stderr.contains("would need"), "\(result.output)")
                }
            }
        }

        /// Every one-line `sweep` command of README.md and docs/ that names a manifest of
        /// experiments/ plans as written (run options aside), and the rows it compares exist.
        @Test func theDocsCommandsOnExperimentsPlanAsWritten() async throws {
            let project = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            var files = [project.appendingPathComponent("README.md"), project.appendingPathComponent("experiments/README.md")]
            files += try FileManager.default.contentsOfDirectory(at: project.appendingPathComponent("docs"),
                                                                 includingPropertiesForKeys: nil).filter { $0.pathExtension == "md" }
            // A command whose shown output starts with "error:" is documented as refused: it must be.
            var commands: Set<String> = [], refused: Set<String> = []
            for file in files {
                let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                for (index, line) in lines.enumerated() {
                    // A command continued on the next line (docs/paper-scale.md's, with data on a cluster) is not one line.
                    guard !line.trimmingCharacters(in: .whitespaces).hasSuffix("\\"),
                          let match = line.firstMatch(of: /sweep (plan|run|status|report|compare) experiments\/[^`|#\\]*/) else { continue }
                    let command = String(match.output.0).trimmingCharacters(in: .whitespaces)
                    if !command.contains("...") && !command.contains("…") { commands.insert(command) }
                    if index + 1 < lines.count, lines[index + 1].hasPrefix("error:") { refused.insert(command) }
                }
            }
            #expect(commands.count >= 10, "\(commands)")
            let scratch = try Engine.projectScratch()
            let runOnly: Set<String> = ["--executor", "--slots", "--threads", "--timeout", "--retries", "--poll"]
            let runFlags: Set<String> = ["--wait", "--rerun", "--retry-failed", "--fail-fast", "--dry-run"]
            for command in commands.sorted() {
                var words = Array(Self.words(command).dropFirst(2))
                var rows: [String] = []
                var plan: [String] = []
                while !words.isEmpty {
                    let word = words.removeFirst()
                    if runOnly.contains(word) || ["--out", "--table", "--results", "--templates"].contains(word) {
                        if !words.isEmpty { words.removeFirst() }
                    } else if word == "--row" || word == "--against" {
                        if !words.isEmpty { rows.append(words.removeFirst()) }
                    } else if !runFlags.contains(word) {
                        plan.append(word.trimmingCharacters(in: CharacterSet(charactersIn: "'")))
                    }
                }
                let result = try await scratch.sweep(["plan"] + plan)
                #expect(result.status == (refused.contains(command) ? 2 : 0), "\(command): \(result.output)")
                if refused.contains(command) { continue }
                let manifest = try String(contentsOf: scratch.root.appendingPathComponent(plan[0]), encoding: .utf8)
                for row in rows {
                    #expect(manifest.contains("label: \"\(row)\"") || manifest.contains("label: \(row),"), "\(command): no row '\(row)'")
                }
            }
        }

        /// `epochs=1` (a key of our engine the manifest never sets) needs no `+`; a typo still fails.
        @Test func engineKeysNeedNoPlus() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("m.yaml", Self.bundled)
            #expect(try await scratch.sweep(["plan", "m.yaml", "epochs=1", "batch_size=2"]).status == 0)
            let typo = try await scratch.sweep(["plan", "m.yaml", "epohcs=1"])
            #expect(typo.status == 2 && typo.stderr.contains("did you mean 'epochs'?"), "\(typo.output)")
        }

        // MARK: item 4

        /// A table row an override empties shows — with a warning naming the override; an axis
        /// value of the wrong type is named.
        @Test func anOverrideThatEmptiesATableRowIsAWarning() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("m.yaml", Self.bundled)
            let result = try await scratch.sweep(["plan", "m.yaml", "groups.adapters.grid.rank=[4]"])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stderr.contains("warning: table row 'DoRA r=16' selects no run of group 'adapters' with groups.adapters.grid.rank=[4]"),
                    "\(result.output)")
            _ = try scratch.write("typed.yaml", Self.bundled.replacingOccurrences(of: "rank: [4, 16]", with: "rank: [four, 16]"))
            let typed = try await scratch.sweep(["plan", "typed.yaml"])
            #expect(typed.status == 2, "\(typed.output)")
            #expect(typed.stderr.contains("axis 'rank' has the string 'four' among numbers"), "\(typed.output)")
        }

        // MARK: item 5

        /// `sweep status` shows each run's axes, a failed run's last stderr line, and `--json`
        /// carries axes and config.
        @Test func statusShowsAxesAndWhatAFailureSaid() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("failure.yaml", Manifests.failingDependency())
            _ = try await scratch.sweep(["run", "failure.yaml"])
            let status = try await scratch.sweep(["status", "failure.yaml"])
            #expect(status.stdout.contains("AXES"), "\(status.output)")
            #expect(status.stdout.contains("backbone=a method=lora"), "\(status.output)")
            #expect(status.stdout.contains("exit 3: engine.sh: error: CUDA out of memory"), "\(status.output)")
            let json = try await scratch.sweep(["status", "--json"])
            struct Document: Decodable {
                struct Sweep: Decodable { var runs: [Run] }
                struct Run: Decodable {
                    var state: String; var axes: [String: JSONValue]; var config: [String: JSONValue]?; var stderr_last_line: String?
                }
                var sweeps: [Sweep]
            }
            let runs = try JSONDecoder().decode(Document.self, from: Data(json.stdout.utf8)).sweeps.flatMap(\.runs)
            #expect(runs.contains { $0.axes["method"] == .string("mtlora") && $0.config?["method"] == .string("mtlora") })
            #expect(runs.contains { $0.state == "failed" && $0.stderr_last_line == "engine.sh: error: CUDA out of memory" })
        }

        // MARK: item 6

        /// Results under another profile are pointed to; a report that would be all — fails.
        @Test func resultsUnderAnotherProfileArePointedTo() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 2, seeds: 1))
            let run = try await scratch.sweep(["run", "grid.yaml", "--profile", "quick"])
            #expect(run.status == 0, "\(run.output)")
            let status = try await scratch.sweep(["status", "grid.yaml"])
            #expect(status.stdout.contains("3 new"), "\(status.output)")
            #expect(status.stderr.contains("3 runs of this manifest succeeded under --profile quick"), "\(status.output)")
            let plan = try await scratch.sweep(["plan", "grid.yaml"])
            #expect(plan.stderr.contains("note: 3 runs of this manifest succeeded under --profile quick"), "\(plan.output)")
            let report = try await scratch.sweep(["report", "grid.yaml"])
            #expect(report.status == 1, "\(report.output)")
            #expect(report.stderr.contains("nothing written") && report.stderr.contains("under --profile quick"), "\(report.output)")
            #expect(!FileManager.default.fileExists(atPath: scratch.root.appendingPathComponent("results/e2e").path))
            let compare = try await scratch.sweep(["compare", "grid.yaml", "--row", "R1", "--against", "R0"])
            #expect(compare.status == 1 && compare.stderr.contains("under --profile quick"), "\(compare.output)")
        }

        // MARK: item 7

        /// A wrong --row: status 2, a suggestion, no usage text; `sweep show zzzz` likewise.
        @Test func runtimeErrorsExitTwoWithoutUsage() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 2, seeds: 2))
            #expect(try await scratch.sweep(["run", "grid.yaml"]).status == 0)
            let compare = try await scratch.sweep(["compare", "grid.yaml", "--row", "R3", "--against", "R0"])
            #expect(compare.status == 2, "\(compare.output)")
            #expect(compare.stderr.contains("did you mean 'R1'?") || compare.stderr.contains("did you mean 'R0'?"), "\(compare.output)")
            #expect(!compare.stderr.contains("Usage:"), "\(compare.output)")
            let show = try await scratch.sweep(["show", "zzzz"])
            #expect(show.status == 2 && !show.stderr.contains("Usage:"), "\(show.output)")
            #expect(show.stderr.hasPrefix("error: "), "\(show.output)")
            let unknownOption = try await scratch.sweep(["status", "--bogus"])
            #expect(unknownOption.status == 2, "\(unknownOption.output)")
            // Two seeds: a warning with the seeds the observed spread would need.
            let two = try await scratch.sweep(["compare", "grid.yaml", "--row", "R1", "--against", "R0"])
            #expect(two.status == 0, "\(two.output)")
            #expect(two.stderr.contains("warning: R1 − R0 has 2 shared seeds"), "\(two.output)")
        }

        // MARK: item 8

        /// Table mistakes are caught at plan time, with suggestions and without repeats.
        @Test func tableMistakesAreCaughtWithSuggestions() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("saliency.yaml", Self.bundled.replacingOccurrences(of: "[semseg, depth]", with: "[semseg, saliency]"))
            let saliency = try await scratch.sweep(["plan", "saliency.yaml"])
            #expect(saliency.status == 2 && saliency.stderr.contains("column 'saliency': no run of table 'x' has task saliency"),
                    "\(saliency.output)")
            _ = try scratch.write("column.yaml", Self.bundled.replacingOccurrences(of: "[semseg, depth]", with: "[semseg, dept]"))
            let column = try await scratch.sweep(["plan", "column.yaml"])
            #expect(column.status == 2 && column.stderr.contains("did you mean 'depth'?"), "\(column.output)")
            #expect(column.stderr.components(separatedBy: "depth,").count <= 2, "tasks listed twice: \(column.output)")
            _ = try scratch.write("where.yaml", Self.bundled.replacingOccurrences(of: "{adapter: dora, rank: 16}", with: "{adaptr: dora}"))
            let whereKey = try await scratch.sweep(["plan", "where.yaml"])
            #expect(whereKey.status == 2 && whereKey.stderr.contains("did you mean 'adapter'?"), "\(whereKey.output)")
            _ = try scratch.write("value.yaml", Self.bundled.replacingOccurrences(of: "{adapter: dora, rank: 16}", with: "{adapter: dorra}"))
            let whereValue = try await scratch.sweep(["plan", "value.yaml"])
            #expect(whereValue.status == 2 && whereValue.stderr.contains("did you mean 'adapter: dora'?"), "\(whereValue.output)")
            _ = try scratch.write("layout.yaml", Self.bundled.replacingOccurrences(of: "  x:\n", with: "  x:\n    layout: row\n"))
            let layout = try await scratch.sweep(["plan", "layout.yaml"])
            #expect(layout.status == 2 && layout.stderr.contains(/layout\.yaml:\d+:\d+: tables\.x\.layout/), "\(layout.output)")
        }

        /// Another engine's tasks are known from its metrics only: a column no run with results
        /// has is a warning when the tables are written.
        @Test func anEmptyColumnOfAnotherEngineIsAWarning() async throws {
            let scratch = try Scratch()
            let manifest = Manifests.grid(rows: 2, seeds: 1).replacingOccurrences(of: "      - params.trainable",
                                                                                  with: "      - params.trainable\n      - saliency")
            #expect(manifest.contains("- saliency"))
            _ = try scratch.write("grid.yaml", manifest)
            let run = try await scratch.sweep(["run", "grid.yaml"])
            #expect(run.status == 0, "\(run.output)")
            #expect(run.stderr.contains("warning: table 'main': column 'saliency' is empty: no run with results has it"),
                    "\(run.output)")
        }

        // MARK: item 9

        /// A run interrupted and resumed: its log headers count attempts as the ledger does, and
        /// `show` gives the time of every attempt.
        @Test func attemptsAndTimeAreCountedAcrossResumes() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("slow.yaml", Manifests.grid(rows: 1, seeds: 1, epochs: 6, epochSeconds: 0.3, slots: 1))
            let sweep = try scratch.start(["run", "slow.yaml"])
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(20))
            while clock.now < deadline, try await scratch.status().values.filter({ $0.group == "grid" && $0.state == "running" }).isEmpty {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(700))
            kill(sweep.pid, SIGINT)
            _ = try await sweep.finish()
            let resumed = try await scratch.sweep(["run", "slow.yaml"])
            #expect(resumed.status == 0, "\(resumed.output)")
            let grid = try #require(try await scratch.status().values.first { $0.group == "grid" })
            #expect(grid.attempts == 2)
            let log = try String(contentsOf: scratch.workspace.appendingPathComponent("runs/\(grid.id)/stdout.log"), encoding: .utf8)
            #expect(log.contains(" attempt 1, ") && log.contains(" attempt 2, "), "\(log)")
            let show = try await scratch.sweep(["show", grid.id])
            #expect(show.stdout.contains("over 2 attempts"), "\(show.output)")
        }

        // MARK: item 10

        /// `plan --profile` names the profile; `--dry-run` says which runs wait for others.
        @Test func planAndDryRunSayWhatTheyMean() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("grid.yaml", Manifests.grid(rows: 2, seeds: 1))
            let plan = try await scratch.sweep(["plan", "grid.yaml", "--profile", "quick"])
            #expect(plan.stdout.contains("sweep \"e2e\", profile quick, 3 runs"), "\(plan.output)")
            let dryRun = try await scratch.sweep(["run", "grid.yaml", "--dry-run"])
            #expect(dryRun.stdout.contains("would launch 3 of 3 runs: 1 at once, 2 once the runs they need have succeeded"),
                    "\(dryRun.output)")
            #expect(dryRun.stdout.contains("launch after `pretrain`"), "\(dryRun.output)")
        }

        // MARK: item 11

        /// Hydra's sweep forms make grid axes: `a,b` and `range(...)`; other forms are refused.
        @Test func hydraSweepsBecomeGridAxes() async throws {
            let scratch = try Scratch()
            _ = try scratch.write("m.yaml", Self.bundled)
            func runs(_ overrides: [String]) async throws -> PlanDocument {
                let result = try await scratch.sweep(["plan", "m.yaml"] + overrides + ["--json"])
                try #require(result.status == 0, "\(result.output)")
                return try JSONDecoder().decode(PlanDocument.self, from: Data(result.stdout.utf8))
            }
            // 1 pretraining + 4 points x 2 seeds, doubled by a two-value sweep.
            #expect(try await runs([]).runs.count == 9)
            // (A key every group's runs take: the engine's config check refuses lora_scale for the pretraining run.)
            let choice = try await runs(["epochs=1,4"])
            #expect(choice.runs.count == 18)
            #expect(choice.runs.filter { $0.axes["epochs"] == .int(4) }.count == 9)
            let decimals = try await runs(["lr=range(0.1,0.4,0.1)"])
            #expect(Set(decimals.runs.compactMap { $0.config["lr"] }) == [.double(0.1), .double(0.2), .double(0.3)])
            let range = try await runs(["train_images=range(8,32,8)"])
            #expect(range.runs.count == 27)
            #expect(Set(range.runs.compactMap { $0.config["train_images"] }) == [.int(8), .int(16), .int(24)])
            let text = try await scratch.sweep(["plan", "m.yaml", "epochs=1,4"])
            #expect(text.stdout.contains("epochs"), "\(text.output)")
            for (override, message) in [("lora_scale=glob(*)", "glob(...) sweep is not supported"),
                                        ("rank=[4,8]", "rank=4,8"),
                                        ("rank=null", "'rank=null': a null value"),
                                        ("seeds=0,1", "a list where the manifest takes one")] {
                let result = try await scratch.sweep(["plan", "m.yaml", override])
                #expect(result.status == 2, "\(override): \(result.output)")
                #expect(result.stderr.contains(message), "\(override): \(result.output)")
            }
        }

        // MARK: helpers

        /// The first fenced block of `language` in `text`.
        static func block(_ language: String, in text: String) -> String? {
            guard let start = text.range(of: "```\(language)\n"),
                  let end = text.range(of: "\n```", range: start.upperBound..<text.endIndex) else { return nil }
            return String(text[start.upperBound..<end.lowerBound])
        }

        /// A command line split as a shell would (double quotes group words).
        static func words(_ line: String) -> [String] {
            var words: [String] = [], current = "", quoted = false, inWord = false
            for character in line {
                if character == "\"" { quoted.toggle(); inWord = true; continue }
                if character == " ", !quoted {
                    if inWord { words.append(current) }
                    current = ""; inWord = false
                    continue
                }
                current.append(character); inWord = true
            }
            if inWord { words.append(current) }
            return words
        }
    }
}
