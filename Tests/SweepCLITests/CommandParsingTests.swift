import ArgumentParser
import Testing
@testable import SweepCLI

@Suite struct CommandParsingTests {
    @Test func statesParseFromTheCommandLine() throws {
        let command = try SweepCommand.parseAsRoot(["status", "--state", "failed", "--state", "new", "--json"])
        let status = try #require(command as? StatusCommand)
        #expect(status.state == [.failed, .new] && status.json && status.manifest.file == nil)
        #expect(throws: (any Error).self) { try SweepCommand.parseAsRoot(["status", "--state", "exploded"]) }
        let show = try #require(try SweepCommand.parseAsRoot(["show", "3fa2", "--workspace", "/tmp/w"]) as? ShowCommand)
        #expect(show.run == "3fa2" && show.workspace.value.root.path == "/tmp/w")
    }

    @Test func slurmOptionsParse() throws {
        let run = try #require(try SweepCommand.parseAsRoot(["run", "m.yaml", "--executor", "slurm", "--wait", "--poll", "0.5"])
                               as? RunCommand)
        #expect(run.executor == .slurm && run.wait && run.poll == 0.5)
        #expect(throws: (any Error).self) { try SweepCommand.parseAsRoot(["run", "m.yaml", "--executor", "slurmm"]) }
        #expect(throws: (any Error).self) { try SweepCommand.parseAsRoot(["run", "m.yaml", "--poll", "0"]) }
        let cancel = try #require(try SweepCommand.parseAsRoot(["cancel", "m.yaml", "epochs=2"]) as? CancelCommand)
        #expect(cancel.manifest.file == "m.yaml" && cancel.manifest.overrides == ["epochs=2"])
    }

    @Test func comparePairsRowsWithBaselinesInOrder() throws {
        func pairs(_ arguments: [String]) throws -> [CompareCommand.Pair] {
            let command = try SweepCommand.parseAsRoot(["compare", "m.yaml"] + arguments)
            return try #require(command as? CompareCommand).pairs()
        }
        typealias Pair = CompareCommand.Pair
        // One row against each baseline.
        #expect(try pairs(["--row", "FAAR", "--against", "MTLoRA", "--against", "TGLoRA"])
                == [Pair(row: "FAAR", baseline: "MTLoRA"), Pair(row: "FAAR", baseline: "TGLoRA")])
        // Several rows: one baseline each, in order, and one table for all or one per pair.
        #expect(try pairs(["--row", "a", "--against", "b", "--row", "c", "--against", "d", "--table", "t"])
                == [Pair(row: "a", baseline: "b", table: "t"), Pair(row: "c", baseline: "d", table: "t")])
        #expect(try pairs(["--row", "a", "--against", "b", "--table", "t1", "--row", "c", "--against", "d", "--table", "t2"])
                == [Pair(row: "a", baseline: "b", table: "t1"), Pair(row: "c", baseline: "d", table: "t2")])
        #expect(throws: (any Error).self) {
            try SweepCommand.parseAsRoot(["compare", "m.yaml", "--row", "a", "--row", "c", "--against", "b"])
        }
        #expect(throws: (any Error).self) {
            try SweepCommand.parseAsRoot(["compare", "m.yaml", "--row", "a", "--against", "b", "--against", "c",
                                          "--table", "t1", "--table", "t2", "--table", "t3"])
        }
        #expect(throws: (any Error).self) { try SweepCommand.parseAsRoot(["compare", "m.yaml", "--row", "a"]) }
    }

    /// `--help` teaches by example: every command shows its main flags in use, in lines that
    /// fit an 80-column terminal (a wrapped example cannot be pasted).
    @Test(arguments: [
        ("plan", ["--json", "--profile", "--all"]),
        ("run", ["--rerun", "--retry-failed", "--fail-fast", "--executor", "--profile", "--dry-run", "--slots", "--timeout"]),
        ("status", ["--json", "--state"]),
        ("show", ["--json", "--lines"]),
        ("report", ["--results", "--profile"]),
        ("compare", ["--row", "--against", "--out"]),
        ("cancel", []),
    ])
    func helpShowsEachCommandsFlagsInExamples(command: String, flags: [String]) throws {
        let type = try #require(SweepCommand.configuration.subcommands.first { $0.configuration.commandName == command })
        let help = SweepCommand.helpMessage(for: type, columns: 80)
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex(of: "Examples:"), "sweep \(command) --help has no examples")
        let examples = lines[(start + 1)...].prefix { !$0.isEmpty }
        // A shell continuation line carries on the example above it.
        #expect(examples.allSatisfy { $0.hasPrefix("  sweep \(command)") || $0.hasPrefix("    ") })
        #expect(examples.allSatisfy { $0.count <= 80 }, "\(examples.filter { $0.count > 80 })")
        for flag in flags {
            #expect(examples.contains { $0.contains(flag + " ") || $0.hasSuffix(flag) }, "no example of sweep \(command) \(flag)")
        }
    }
}
