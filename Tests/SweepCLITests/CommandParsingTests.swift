import ArgumentParser
import Testing
@testable import SweepCLI

@Suite struct CommandParsingTests {
    @Test func statesParseFromTheCommandLine() throws {
        let command = try SweepCommand.parseAsRoot(["status", "--state", "failed", "--state", "new", "--json"])
        let status = try #require(command as? StatusCommand)
        #expect(status.state == [.failed, .new] && status.json && status.file == nil)
        #expect(throws: (any Error).self) { try SweepCommand.parseAsRoot(["status", "--state", "exploded"]) }
        let show = try #require(try SweepCommand.parseAsRoot(["show", "3fa2", "--workspace", "/tmp/w"]) as? ShowCommand)
        #expect(show.run == "3fa2" && show.workspace.value.root.path == "/tmp/w")
    }
}
