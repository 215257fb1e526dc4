import Testing
@testable import Tensors

/// A leaf with seeded uniform values that takes gradients.
func parameter(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = SeededRandom(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, using: &rng, requiresGrad: true)
}

/// A frozen (no-gradient) tensor with seeded values.
func constant(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = SeededRandom(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, using: &rng)
}

func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-5,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() where abs(a - e) > tolerance * max(1, abs(e)) {
        Issue.record("element \(i): \(a) != \(e)", sourceLocation: sourceLocation)
        return
    }
}

func expectGradients(_ inputs: [Tensor], epsilon: Float = 1e-2,
                     sourceLocation: SourceLocation = #_sourceLocation, _ op: ([Tensor]) -> Tensor) {
    let result = gradcheck(inputs, epsilon: epsilon, op)
    #expect(result.passed, "\(result)", sourceLocation: sourceLocation)
}
