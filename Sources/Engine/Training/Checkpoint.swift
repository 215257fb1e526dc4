import Foundation

/// Everything needed to continue a run bit for bit after its last finished epoch: model state
/// (parameters and BatchNorm statistics), AdamW moments and step, and the epoch times so far.
/// Data order and augmentation are functions of (seed, epoch, index), so no RNG state is kept.
/// Stored as one safetensors file, written atomically after every epoch.
public struct Checkpoint {
    public static let fileName = "checkpoint.safetensors"

    public var completedEpochs: Int
    public var optimizerStep: Int
    public var epochSeconds: [Double]
    /// Identifies the config the checkpoint belongs to; a different config never resumes from it.
    public var configFingerprint: String
    public var model: [String: StoredTensor]
    public var optimizer: [String: StoredTensor]
    /// Per-epoch logs of adapters' ranks (FAAR), by adapter name.
    public var ranks: [String: [Int]]
    /// Forward GMACs per image at the end of each epoch; empty in checkpoints written before
    /// it was recorded.
    public var epochGMACs: [Double]

    public init(completedEpochs: Int, optimizerStep: Int, epochSeconds: [Double], configFingerprint: String,
                model: [String: StoredTensor], optimizer: [String: StoredTensor], ranks: [String: [Int]] = [:],
                epochGMACs: [Double] = []) {
        self.completedEpochs = completedEpochs; self.optimizerStep = optimizerStep
        self.epochSeconds = epochSeconds; self.configFingerprint = configFingerprint
        self.model = model; self.optimizer = optimizer; self.ranks = ranks
        self.epochGMACs = epochGMACs
    }

    public func write(to url: URL) throws {
        var file = Safetensors()
        for (name, tensor) in model { file.tensors["model." + name] = tensor }
        for (name, tensor) in optimizer { file.tensors[name] = tensor }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        file.metadata = [
            "completed_epochs": String(completedEpochs),
            "optimizer_step": String(optimizerStep),
            // Bit patterns keep the times exact through the text round trip.
            "epoch_seconds": Self.exactText(epochSeconds),
            "epoch_gmacs": Self.exactText(epochGMACs),
            "config_fingerprint": configFingerprint,
            "ranks": String(decoding: try encoder.encode(ranks), as: UTF8.self),
            "engine_version": EngineVersion.current,
        ]
        try file.write(to: url)
    }

    public static func read(from url: URL) throws -> Checkpoint {
        let file = try Safetensors.read(from: url)
        func field(_ key: String) throws -> String {
            guard let value = file.metadata[key] else {
                throw SafetensorsError(file: url.path, message: "checkpoint metadata lacks '\(key)'")
            }
            return value
        }
        guard let epochs = Int(try field("completed_epochs")), let step = Int(try field("optimizer_step")) else {
            throw SafetensorsError(file: url.path, message: "checkpoint metadata is not numeric")
        }
        let seconds = exactValues(try field("epoch_seconds"))
        let gmacs = file.metadata["epoch_gmacs"].map(exactValues) ?? []
        let ranks = (try? JSONDecoder().decode([String: [Int]].self, from: Data(field("ranks").utf8))) ?? [:]
        var model: [String: StoredTensor] = [:], optimizer: [String: StoredTensor] = [:]
        for (name, tensor) in file.tensors {
            if name.hasPrefix("model.") { model[String(name.dropFirst(6))] = tensor } else { optimizer[name] = tensor }
        }
        return Checkpoint(completedEpochs: epochs, optimizerStep: step, epochSeconds: seconds,
                          configFingerprint: try field("config_fingerprint"), model: model,
                          optimizer: optimizer, ranks: ranks, epochGMACs: gmacs)
    }

    private static func exactText(_ values: [Double]) -> String {
        values.map { String($0.bitPattern) }.joined(separator: ",")
    }

    private static func exactValues(_ text: String) -> [Double] {
        text.split(separator: ",").compactMap { UInt64($0) }.map(Double.init(bitPattern:))
    }
}
