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
}
