import Foundation
import Synchronization
import Tensors

/// Activations as a row-major matrix: one row per token (or pixel), one column per channel.
/// Images and feature maps are channels-last, so a 1x1 convolution is a `Linear` on rows.
public struct Matrix: Sendable {
    public var rows: Int
    public var columns: Int
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "\(values.count) values for \(rows)x\(columns)")
        self.rows = rows; self.columns = columns; self.values = values
    }

    public init(zeros rows: Int, _ columns: Int) {
        self.init(rows: rows, columns: columns, values: [Float](repeating: 0, count: rows * columns))
    }

    /// A matrix whose every entry the caller overwrites before reading; skips zero-filling.
    init(uninitialized rows: Int, _ columns: Int) {
        self.rows = rows; self.columns = columns
        values = [Float](unsafeUninitializedCapacity: rows * columns) { _, count in count = rows * columns }
    }

    /// a + b per element, in one pass into a new matrix (no copy of a first), 8 at a time and
    /// split over the threads.
    public static func + (a: Matrix, b: Matrix) -> Matrix {
        precondition(a.rows == b.rows && a.columns == b.columns)
        var sum = Matrix(uninitialized: a.rows, a.columns)
        let count = a.values.count
        sum.values.withUnsafeMutableBufferPointer { s in
            a.values.withUnsafeBufferPointer { a in
                b.values.withUnsafeBufferPointer { b in
                    let s = s.baseAddress!, a = a.baseAddress!, b = b.baseAddress!
                    parallelChunks(count, minimumChunk: 1 << 15) { _, range in
                        forEachLanes(range) { i, valid in store8(load8(a, i, valid) + load8(b, i, valid), s, i, valid) }
                    }
                }
            }
        }
        return sum
    }

    public static func += (a: inout Matrix, b: Matrix) { a = a + b }
}

/// The gradient of a layer's input given the gradient of its output; also accumulates the
/// layer's parameter gradients. Returned by each forward call, so a layer used twice (one call
/// per task stream) keeps one pullback per call.
public typealias Pullback = (Matrix) -> Matrix

/// Counts forward multiply-accumulates as the layers see their shapes; layers running side by
/// side (the task heads) add to it from several threads.
public final class MACCounter: Sendable {
    private let count = Atomic<Int>(0)
    public init() {}
    public var total: Int { count.load(ordering: .relaxed) }
    public func add(_ macs: Int) { count.add(macs, ordering: .relaxed) }
}

/// What a training step's random masks are drawn from: the run's seed and the step's index in the
/// run. A mask's stream is keyed by these, the layer and its stream only, so it is the same at
/// any thread count, and a resumed run draws what the uninterrupted one did without saving any
/// generator state.
public struct NoiseKey: Sendable, Equatable {
    public var seed: UInt64
    public var step: Int

    public init(seed: UInt64, step: Int) { self.seed = seed; self.step = step }

    func generator(_ key: UInt64, stream: Int) -> SeededRandom {
        var generator = SeededRandom(seed: seed ^ key ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15)
                                   ^ (UInt64(stream) &* 0xD1B5_4A32_D192_ED03))
        _ = generator.next()
        return generator
    }
}

/// How a forward pass runs: training (batch statistics, pullbacks kept) or evaluation.
public struct ForwardContext {
    public var training: Bool
    /// When set, every layer adds its MACs for the shapes it sees.
    public var macs: MACCounter?
    /// The images one pass serves when MACs are counted per image: work done once per pass for
    /// all of them (DoRA's norms of W + sBA) counts 1/imagesPerPass per image, as a FLOP counter
    /// run on a whole batch and divided by its size would give.
    public var imagesPerPass = 1

    /// Training passes of a run: where LoRA dropout and drop path draw their masks. Without it
    /// (evaluation, benchmarks, tests of the plain layers) nothing is dropped.
    public var noise: NoiseKey?
    /// Which stream of a layer run once per stream this pass is (TGLoRA's group streams): each
    /// stream draws its own masks, and a `GroupedLinear` runs the module of its group.
    public var stream = 0

    public init(training: Bool, macs: MACCounter? = nil, imagesPerPass: Int = 1, noise: NoiseKey? = nil) {
        precondition(imagesPerPass >= 1, "a pass serves at least one image")
        self.training = training; self.macs = macs; self.imagesPerPass = imagesPerPass; self.noise = noise
    }

    /// The generator of one mask of this pass, keyed by the layer (`key`, a stable hash of its
    /// name) and `stream`; nil outside training or without a noise key.
    func maskGenerator(_ key: UInt64, stream: Int) -> SeededRandom? {
        guard training, let noise else { return nil }
        return noise.generator(key, stream: stream)
    }

    func count(_ macs: Int) { self.macs?.add(macs) }

    /// Counts work done once per pass, shared by `imagesPerPass` images (rounded to the nearest MAC).
    func countPerPass(_ macs: Int) { self.macs?.add((macs + imagesPerPass / 2) / imagesPerPass) }
}
