/// The outcome of `gradcheck`: the worst disagreement between the tape's gradient
/// and central finite differences, over every element of every checked input.
public struct GradCheckResult: CustomStringConvertible, Sendable {
    public var passed: Bool
    /// Largest |analytic - numeric| relative to the tolerance it was held to (<= 1 passes).
    public var worstRatio: Double
    public var worstInput: Int
    public var worstElement: Int
    public var analytic: Double
    public var numeric: Double

    public var description: String {
        "\(passed ? "passed" : "FAILED"): input \(worstInput) element \(worstElement): "
            + "analytic \(analytic) vs numeric \(numeric) (error/tolerance \(worstRatio))"
    }
}

/// Checks the gradient `op` records against finite differences.
///
/// The scalar being differentiated is L = sum_i r_i * op(inputs)_i with fixed random
/// weights r, accumulated in Double so the Float forward pass is the only rounding.
/// Every input with `requiresGrad` is checked element by element with central
/// differences of step `epsilon`; an element passes when
/// |analytic - numeric| <= absoluteTolerance + relativeTolerance * |numeric|.
/// Use tiny shapes: the cost is two forward passes per input element.
public func gradcheck(_ inputs: [Tensor], epsilon: Float = 1e-2,
                      absoluteTolerance: Double = 2e-3, relativeTolerance: Double = 2e-2,
                      seed: UInt64 = 7, _ op: ([Tensor]) -> Tensor) -> GradCheckResult {
    for input in inputs { input.releaseGrad() }
    let output = op(inputs)
    var rng = SeededRandom(seed: seed)
    let weights = Tensor.uniform(output.shape, low: -1, high: 1, using: &rng)
    output.backward(seed: weights)

    func objective() -> Double {
        let y = GradientRecording.disabled { op(inputs) }
        var total = 0.0
        for i in 0..<y.count { total += Double(weights.data[i]) * Double(y.data[i]) }
        return total
    }

    var result = GradCheckResult(passed: true, worstRatio: 0, worstInput: -1, worstElement: -1,
                                 analytic: 0, numeric: 0)
    for (index, input) in inputs.enumerated() where input.requiresGrad {
        let analytic = input.gradValues
        for e in 0..<input.count {
            let saved = input.data[e]
            input.data[e] = saved + epsilon
            let plus = objective()
            input.data[e] = saved - epsilon
            let minus = objective()
            input.data[e] = saved
            // The actual step after Float rounding, not the nominal one.
            let step = Double(saved + epsilon) - Double(saved - epsilon)
            let numeric = (plus - minus) / step
            let ratio = abs(Double(analytic[e]) - numeric) / (absoluteTolerance + relativeTolerance * abs(numeric))
            if ratio > result.worstRatio {
                result = GradCheckResult(passed: ratio <= 1, worstRatio: ratio, worstInput: index,
                                         worstElement: e, analytic: Double(analytic[e]), numeric: numeric)
            }
        }
    }
    for input in inputs { input.releaseGrad() }
    return result
}
