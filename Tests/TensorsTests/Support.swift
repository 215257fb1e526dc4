import Testing
@testable import Tensors

/// `count` seeded uniform values in [low, high).
func floats(_ count: Int, seed: UInt64, low: Float = -1, high: Float = 1) -> [Float] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { _ in rng.uniform(low, high) }
}

func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-5,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() where abs(a - e) > tolerance * max(1, abs(e)) {
        Issue.record("element \(i): \(a) != \(e)", sourceLocation: sourceLocation)
        return
    }
}
