import ArgumentParser
import Foundation
import RunContract
import Testing
@testable import Engine
@testable import EngineCLI

private func writeConfig(_ json: String) throws -> URL {
    let directory = temporaryRunDirectory()
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try Data(json.utf8).write(to: directory.appendingPathComponent(RunFiles.config))
    return directory
}

private func metrics(in directory: URL) throws -> RunMetrics {
    try JSONDecoder().decode(RunMetrics.self, from: Data(contentsOf: directory.appendingPathComponent(RunFiles.metrics)))
}

@Test func smokeRunInterruptedAfterTheFirstEpochResumesBitIdentically() throws {
    let json = #"{"kind": "mtl_full", "profile": "smoke", "epochs": 3, "seed": 4}"#
    let whole = try writeConfig(json), interrupted = try writeConfig(json)
    defer { try? FileManager.default.removeItem(at: whole); try? FileManager.default.removeItem(at: interrupted) }
    let config = try RunConfig.parse(Data(json.utf8), file: "config.json")

    try RunDriver(config: config, directory: whole, threads: 1, shouldStop: { false }).run()

    var steps = 0
    #expect(throws: RunStopped.self) {
        try RunDriver(config: config, directory: interrupted, threads: 1,
                      shouldStop: { steps += 1; return steps > config.stepsPerEpoch + 1 }).run()
    }
    #expect(try Checkpoint.read(from: interrupted.appendingPathComponent(Checkpoint.fileName)).completedEpochs == 1)
    try RunDriver(config: config, directory: interrupted, threads: 1, shouldStop: { false }).run()

    let a = try metrics(in: whole), b = try metrics(in: interrupted)
    #expect(a.tasks == b.tasks)
    #expect(a.parameters == b.parameters && a.gmacs == b.gmacs)
    let weightsA = try Checkpoint.read(from: whole.appendingPathComponent(Checkpoint.fileName))
    let weightsB = try Checkpoint.read(from: interrupted.appendingPathComponent(Checkpoint.fileName))
    #expect(weightsA.model == weightsB.model)
    #expect(weightsA.optimizer == weightsB.optimizer)
    let losses = { (d: URL) in ContractJSON.readProgress(at: d.appendingPathComponent(RunFiles.progress)).map(\.loss) }
    #expect(losses(whole) == losses(interrupted))
}

@Test func pretrainWritesABackboneThatAFrozenDecoderRunLoads() throws {
    let pretrain = try writeConfig(#"{"kind": "pretrain", "profile": "smoke", "epochs": 1}"#)
    defer { try? FileManager.default.removeItem(at: pretrain) }
    try TrainCommand.parse(["--config", pretrain.appendingPathComponent(RunFiles.config).path, "--out", pretrain.path]).run()
    let upstream = try metrics(in: pretrain)
    #expect(upstream.artifacts == ["backbone": "backbone.safetensors"])
    #expect(upstream.tasks["upstream"]?.name == "top1")
    let backbonePath = pretrain.appendingPathComponent("backbone.safetensors").path
    let file = try Safetensors.read(from: URL(fileURLWithPath: backbonePath))
    #expect(file.tensors["layers.0.blocks.0.attn.qkv.weight"] != nil && file.tensors["head.fc.weight"] != nil)

    let decoders = try writeConfig(#"{"kind": "mtl_decoders", "profile": "smoke", "epochs": 1, "pretrained": "\#(backbonePath)"}"#)
    defer { try? FileManager.default.removeItem(at: decoders) }
    try TrainCommand.parse(["--config", decoders.appendingPathComponent(RunFiles.config).path, "--out", decoders.path]).run()
    let result = try metrics(in: decoders)
    #expect(result.parameters.trainable == result.parameters.decoder)
    #expect(Set(result.tasks.keys) == ["semseg", "human_parts", "saliency", "normals"])
    // The frozen backbone is the pretrained one, bit for bit.
    let checkpoint = try Checkpoint.read(from: decoders.appendingPathComponent(Checkpoint.fileName))
    #expect(checkpoint.model["layers.2.blocks.0.mlp.fc1.weight"] == file.tensors["layers.2.blocks.0.mlp.fc1.weight"])
}

@Test func badConfigExitsWithCode2AndWritesNothing() throws {
    let directory = try writeConfig(#"{"kind": "mtl_full", "profile": "smok"}"#)
    defer { try? FileManager.default.removeItem(at: directory) }
    let command = try TrainCommand.parse(["--config", directory.appendingPathComponent(RunFiles.config).path,
                                          "--out", directory.path])
    #expect(throws: ExitCode(2)) { try command.run() }
    let written = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    #expect(written == [RunFiles.config])
}
