import Foundation
import Tensors

/// Which part of the model a parameter belongs to, for MTLoRA-style parameter counts.
public enum ParameterRole: String, Sendable, Codable {
    case backbone, decoder, adapter
    /// The classification head of pretraining; not part of the fine-tuned model.
    case classifier
    /// BatchNorm running statistics: state, not learned, never counted.
    case statistic
}

/// What a parameter is to the layer that makes it, declared there, so that methods choose
/// parameters by what they are, never by their names.
public enum ParameterKind: Sendable {
    /// Weights and kernels, norms' scales, adapter factors and magnitudes, the methods' own.
    case weight
    /// An additive bias or shift (linears, convolutions, norms): what BitFit trains.
    case bias
    /// Swin's relative position bias table: biases of the attention logits, which BitFit does not
    /// train and which take no weight decay.
    case positionBias
}

/// A named array of the model, stored in a stable buffer so optimizer and kernels can use it
/// directly. Frozen parameters have no gradient buffer, and layers skip their weight gradients.
public final class Parameter {
    /// The timm-style name (`layers.0.blocks.0.attn.qkv.weight`).
    public let name: String
    public let shape: [Int]
    public let values: UnsafeMutableBufferPointer<Float>
    public private(set) var gradient: UnsafeMutableBufferPointer<Float>?
    public let role: ParameterRole
    public let kind: ParameterKind

    public init(name: String, shape: [Int], role: ParameterRole, kind: ParameterKind = .weight,
                initialValues: [Float]? = nil) {
        self.name = name; self.shape = shape; self.role = role; self.kind = kind
        let count = shape.reduce(1, *)
        values = .allocate(capacity: count)
        if let initialValues {
            precondition(initialValues.count == count, "\(name): \(initialValues.count) values for shape \(shape)")
            _ = values.initialize(from: initialValues)
        } else {
            values.initialize(repeating: 0)
        }
        if role != .statistic { setTrainable(true) }
    }

    deinit {
        values.deallocate()
        gradient?.deallocate()
    }

    public var count: Int { values.count }
    public var isTrainable: Bool { gradient != nil }
    /// Biases, norms and other 1-D parameters take no weight decay.
    public var decays: Bool { shape.count > 1 && kind != .positionBias }

    public func setTrainable(_ trainable: Bool) {
        if trainable, gradient == nil, role != .statistic {
            gradient = .allocate(capacity: count)
            gradient!.initialize(repeating: 0)
        } else if !trainable, let buffer = gradient {
            buffer.deallocate()
            gradient = nil
        }
    }

    public func zeroGradient() {
        if let gradient { gradient.update(repeating: 0) }
    }

    public func load(_ stored: StoredTensor) throws {
        guard stored.values.count == count else {
            throw WeightsError.shapeMismatch(name: name, expected: shape, found: stored.shape)
        }
        _ = values.update(from: stored.values)
    }

    public var stored: StoredTensor { StoredTensor(shape: shape, values: Array(values)) }

    var slot: ParameterSlot? {
        gradient.map { ParameterSlot(name: name, values: values, gradient: $0, decays: decays) }
    }
}

extension Array where Element == Parameter {
    /// Every parameter's values by name, BatchNorm statistics included.
    public var state: [String: StoredTensor] { Dictionary(uniqueKeysWithValues: map { ($0.name, $0.stored) }) }

    public func restore(from state: [String: StoredTensor]) throws {
        let missing = map(\.name).filter { state[$0] == nil }
        guard missing.isEmpty else { throw WeightsError.missing(names: missing, file: Checkpoint.fileName) }
        for parameter in self { try parameter.load(state[parameter.name]!) }
    }
}

public enum WeightsError: Error, CustomStringConvertible {
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    case missing(names: [String], file: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let name, let expected, let found):
            return "\(name): expected shape \(expected), the file has \(found)"
        case .missing(let names, let file):
            let shown = names.prefix(5).joined(separator: ", ") + (names.count > 5 ? ", ... (\(names.count) in all)" : "")
            return "\(file) lacks \(shown)"
        }
    }
}

/// Deterministic initial values from a `SeededRandom` (SeededRandom) stream keyed by seed and parameter name:
/// truncated normal (std 0.02, as timm initialises linears and the relative position tables) or
/// uniform (PyTorch's default for convolutions).
public struct ParameterInitializer: Sendable {
    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// Uniform in [-bound, bound).
    public func uniform(count: Int, bound: Float, name: String) -> [Float] {
        var generator = SeededRandom(seed: seed ^ stableHash(name))
        return (0..<count).map { _ in Float(generator.unit() * 2 - 1) * bound }
    }

    /// A layer's initial weight: timm's truncated normal (std 0.02) in the backbone and adapters;
    /// in decoder heads, PyTorch's default for the papers' `nn.Conv2d` layers,
    /// U(±1/√fan_in). At std 0.02 the heads spent most of a short run learning the class
    /// prior (docs/engine.md, "Training recipe").
    public func layerWeight(count: Int, fanIn: Int, role: ParameterRole, name: String) -> [Float] {
        role == .decoder ? uniform(count: count, bound: 1 / Float(fanIn).squareRoot(), name: name)
            : truncatedNormal(count: count, std: 0.02, name: name)
    }

    /// A layer's initial bias: zero as timm, U(±1/√fan_in) in decoder heads as PyTorch.
    public func layerBias(count: Int, fanIn: Int, role: ParameterRole, name: String) -> [Float] {
        role == .decoder ? uniform(count: count, bound: 1 / Float(fanIn).squareRoot(), name: name)
            : [Float](repeating: 0, count: count)
    }

    public func truncatedNormal(count: Int, std: Float, name: String) -> [Float] {
        var generator = SeededRandom(seed: seed ^ stableHash(name))
        return (0..<count).map { _ in
            while true {
                let value = generator.normalDouble()
                if abs(value) <= 2 { return Float(value) * std }
            }
        }
    }
}

/// FNV-1a: a hash of a name that, unlike `Hasher`, is the same in every process.
func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return hash
}
