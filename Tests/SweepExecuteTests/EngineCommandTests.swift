import Foundation
import SweepCore
@testable import SweepExecute
import Testing

@Suite struct EngineCommandTests {
    /// A folder holding an executable file `name`.
    func folder(with name: String, in space: TemporaryWorkspace) throws -> URL {
        let folder = space.root.appendingPathComponent("bin-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent(name)
        try Data("#!/bin/sh\n".utf8).write(to: file)
        chmod(file.path, 0o755)
        return folder
    }

    @Test func theDefaultIsOurEngineNextToTheRunningExecutable() throws {
        let space = try TemporaryWorkspace()
        let beside = try folder(with: "mtl-engine", in: space)
        let command = try EngineCommand(EngineSpec(), manifestDirectory: nil, besideExecutable: beside,
                                        environment: ["PATH": "/nonexistent"])
        #expect(command.executable == beside.appendingPathComponent("mtl-engine").path)
        #expect(command.arguments(config: URL(fileURLWithPath: "/w/runs/a/config.json"), out: URL(fileURLWithPath: "/w/runs/a"))
                == ["--config", "/w/runs/a/config.json", "--out", "/w/runs/a"])
    }

    @Test func theDefaultEngineIsNextLookedForOnThePath() throws {
        let space = try TemporaryWorkspace()
        let onPath = try folder(with: "mtl-engine", in: space)
        let command = try EngineCommand(EngineSpec(), manifestDirectory: nil, besideExecutable: space.root,
                                        environment: ["PATH": "/nonexistent:\(onPath.path)"])
        #expect(command.executable == onPath.appendingPathComponent("mtl-engine").path)
        #expect(throws: ExecuteError.engineNotFound("mtl-engine", searched: [space.root.path, "/nonexistent"])) {
            try EngineCommand(EngineSpec(), manifestDirectory: nil, besideExecutable: space.root,
                              environment: ["PATH": "/nonexistent"])
        }
    }

    @Test func aManifestsCommandIsResolvedFromItsFolderOrThePathAndSubstituted() throws {
        let space = try TemporaryWorkspace()
        let manifestFolder = try folder(with: "train.sh", in: space)
        let relative = try EngineCommand(EngineSpec(command: ["./train.sh", "--cfg={config}", "--dir", "{out}"]),
                                         manifestDirectory: manifestFolder)
        #expect(relative.executable == manifestFolder.appendingPathComponent("train.sh").path)
        #expect(relative.arguments(config: URL(fileURLWithPath: "/r/config.json"), out: URL(fileURLWithPath: "/r"))
                == ["--cfg=/r/config.json", "--dir", "/r"])

        let bare = try EngineCommand(EngineSpec(command: ["train.sh", "{config}"]), manifestDirectory: nil,
                                     environment: ["PATH": manifestFolder.path])
        #expect(bare.executable == manifestFolder.appendingPathComponent("train.sh").path)

        #expect(throws: ExecuteError.self) {
            try EngineCommand(EngineSpec(command: ["./missing.sh"]), manifestDirectory: manifestFolder)
        }
    }
}
