/// The two factors of a low-rank update B A as flat row-major buffers: A is rank x inputs (one
/// rank-1 component per row), B is outputs x rank (one component per column).
public struct LowRankFactors: Sendable, Equatable {
    public let inputs: Int
    public let outputs: Int
    public private(set) var rank: Int
    public var a: [Float]
    public var b: [Float]

    public init(inputs: Int, outputs: Int, rank: Int, a: [Float], b: [Float]) {
        precondition(a.count == rank * inputs, "A must hold rank x inputs values")
        precondition(b.count == outputs * rank, "B must hold outputs x rank values")
        self.inputs = inputs
        self.outputs = outputs
        self.rank = rank
        self.a = a
        self.b = b
    }

    /// Trainable values of the update.
    public var parameterCount: Int { rank * (inputs + outputs) }

    /// Multiply-accumulates of B (A x) over `tokens` input vectors.
    public func multiplyAccumulates(tokens: Int) -> Int { tokens * parameterCount }

    /// The factors restricted to `components` in that order: the erasure PDRS applies at an epoch
    /// end, which also moves the kept components to the front.
    public func keeping(components: [Int]) -> LowRankFactors {
        LowRankFactors(
            inputs: inputs, outputs: outputs, rank: components.count,
            a: Self.rows(components, of: a, columns: inputs),
            b: Self.columns(components, of: b, rows: outputs, columns: rank))
    }

    /// Rows `indices` of a row-major matrix with `columns` columns, in that order.
    public static func rows(_ indices: [Int], of matrix: [Float], columns: Int) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(indices.count * columns)
        for row in indices { out.append(contentsOf: matrix[row * columns ..< (row + 1) * columns]) }
        return out
    }

    /// Columns `indices` of a row-major rows x columns matrix, in that order.
    public static func columns(_ indices: [Int], of matrix: [Float], rows: Int, columns: Int) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(rows * indices.count)
        for row in 0..<rows {
            for column in indices { out.append(matrix[row * columns + column]) }
        }
        return out
    }
}
