/// A dense, contiguous, row-major array of `Float` with an optional gradient.
///
/// `Tensor` is a final class on purpose: hot loops write through `data` without
/// copy-on-write checks, and the tape refers to tensors by identity.
/// An op that has at least one input with `requiresGrad` (while recording is on)
/// records a backward closure on its output; `backward()` runs them in reverse.
public final class Tensor {
    public let shape: [Int]
    /// Number of elements (product of `shape`; 1 for a scalar of shape `[]`).
    public let count: Int
    /// Element storage. `reshaped` shares it with its input; every other op allocates.
    let storage: Storage
    /// Gradient storage, allocated (zeroed) on first accumulation; never for frozen tensors.
    private var gradStorage: Storage?

    /// Whether gradients flow into this tensor. Parameters set it; frozen ones leave it false.
    public var requiresGrad: Bool
    /// Inputs of the op that produced this tensor (empty for leaves).
    var parents: [Tensor] = []
    /// Accumulates this tensor's gradient into its parents' gradients. It receives the
    /// output itself so the closure need not capture it (no reference cycle).
    var backwardFunction: ((Tensor) -> Void)?

    /// Raw element pointer (`count` Floats, 64-byte aligned). AdamW and loaders write here.
    public var data: UnsafeMutablePointer<Float> { storage.pointer }

    /// Gradient buffer, or nil if none has been accumulated (or the tensor is frozen).
    public var grad: UnsafeMutablePointer<Float>? { gradStorage?.pointer }

    /// A tensor with uninitialised contents (pooled memory: may hold old values).
    public init(uninitialized shape: [Int], requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = Storage(count: count)
        self.requiresGrad = requiresGrad
    }

    /// Shares `storage` (used by `reshaped`).
    init(shape: [Int], sharing storage: Storage) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        precondition(count == storage.count)
        self.storage = storage
        self.requiresGrad = false
    }

    /// A tensor filled with `value`.
    public convenience init(repeating value: Float, shape: [Int], requiresGrad: Bool = false) {
        self.init(uninitialized: shape, requiresGrad: requiresGrad)
        data.update(repeating: value, count: count)
    }

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(repeating: 0, shape: shape, requiresGrad: requiresGrad)
    }

    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(repeating: 1, shape: shape, requiresGrad: requiresGrad)
    }

    /// A tensor holding `values` (row-major).
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        self.init(uninitialized: shape, requiresGrad: requiresGrad)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A scalar (shape `[]`).
    public convenience init(scalar: Float) {
        self.init([scalar], shape: [])
    }

    public var rank: Int { shape.count }

    /// The elements as an array (a copy).
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The gradient as an array (zeros if none was accumulated).
    public var gradValues: [Float] {
        guard let grad else { return [Float](repeating: 0, count: count) }
        return Array(UnsafeBufferPointer(start: grad, count: count))
    }

    /// The single element of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item of a tensor with shape \(shape)")
        return data[0]
    }

    /// `data` as a buffer, for loops and optimisers.
    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// The gradient buffer, allocated and zeroed if absent. Ops call this in backward
    /// only for inputs with `requiresGrad`.
    public func gradAllocatingIfNeeded() -> UnsafeMutablePointer<Float> {
        if let gradStorage { return gradStorage.pointer }
        let fresh = Storage(count: count)
        fresh.pointer.update(repeating: 0, count: count)
        gradStorage = fresh
        return fresh.pointer
    }

    /// The gradient to accumulate into, or nil when this tensor takes no gradient.
    @inline(__always)
    func gradSink() -> UnsafeMutablePointer<Float>? {
        requiresGrad ? gradAllocatingIfNeeded() : nil
    }

    /// Sets the gradient to zero, keeping its buffer for the next step.
    public func zeroGrad() {
        gradStorage?.pointer.update(repeating: 0, count: count)
    }

    /// Drops the gradient buffer (returns it to the pool).
    public func releaseGrad() {
        gradStorage = nil
    }

    /// A new leaf with a copy of the data and no history.
    public func detached() -> Tensor {
        let copy = Tensor(uninitialized: shape)
        copy.data.update(from: data, count: count)
        return copy
    }

    /// Dimension `axis`, with negative axes counting from the end.
    public func size(_ axis: Int) -> Int { shape[normalizedAxis(axis)] }

    func normalizedAxis(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "axis \(axis) out of range for shape \(shape)")
        return a
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = values.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(shown)\(count > 8 ? ", ..." : "")]"
    }
}
