import Testing
import Tensors
@testable import Engine

extension SeededRandom {
    mutating func uniform(_ range: ClosedRange<Double>) -> Double { range.lowerBound + unit() * (range.upperBound - range.lowerBound) }
    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float(uniform(Double(range.lowerBound)...Double(range.upperBound))) }
    }
}

/// Central differences of a scalar function of `values`. The functions checked here are linear or
/// quadratic in each value, so central differences are exact up to Float rounding.
func numericGradient(_ values: [Float], step: Float = 0.05, _ f: ([Float]) -> Double) -> [Float] {
    var probe = values
    return values.indices.map { k in
        probe[k] = values[k] + step
        let up = f(probe)
        probe[k] = values[k] - step
        let down = f(probe)
        probe[k] = values[k]
        return Float((up - down) / (2 * Double(step)))
    }
}

/// Central differences of `loss` with respect to a low-rank module's A factor; the module's
/// factors are restored after each probe.
func numericGradientOfA(_ module: any LowRankModule, _ loss: () -> Double) -> [Float] {
    let saved = module.branch.factors
    return numericGradient(saved.a) { a in
        var changed = saved
        changed.a = a
        module.branch.setParameters(factors: changed)
        defer { module.branch.setParameters(factors: saved) }
        return loss()
    }
}

func expectGradientsMatch(_ analytic: [Float], _ numeric: [Float], _ what: String,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(analytic.count == numeric.count, sourceLocation: sourceLocation)
    let scale = max(1, numeric.map { abs($0) }.max() ?? 0)
    let worst = zip(analytic, numeric).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= 2e-3 * scale, "\(what): worst difference \(worst) at scale \(scale)", sourceLocation: sourceLocation)
}

/// Whether the directional derivative `analytic` matches central differences `shifted(±h)` at
/// one of `steps` (largest first). Through ReLU kinks a large step crosses some and misses; a
/// small one is noisier in Float: a right gradient agrees at some step between, a wrong one at
/// none. Besides the relative tolerance, the loss's own departure from linearity over the step
/// (|f(h) + f(-h) - 2 f(0)| / 2h, zero where the loss is smooth and exact) is allowed: a kink
/// crossed on one side moves the difference by exactly that much. Returns every step tried.
func centralDifferenceAgrees(analytic: Double, steps: [Float], tolerance: Double = 0.03,
                             _ shifted: (Float) -> Double) -> (agrees: Bool, tried: String) {
    var tried: [String] = []
    let base = shifted(0)
    for step in steps {
        let up = shifted(step), down = shifted(-step)
        let numeric = (up - down) / Double(2 * step)
        let nonlinearity = abs(up + down - 2 * base) / Double(2 * step)
        if abs(numeric - analytic) <= tolerance * max(abs(numeric), abs(analytic)) + 1e-4 + nonlinearity {
            return (true, "")
        }
        tried.append("step \(step): numeric \(numeric), nonlinearity \(nonlinearity)")
    }
    return (false, "analytic \(analytic); " + tried.joined(separator: ", "))
}

/// L = sum of y * weights in Double: a loss whose dL/dy is `weights`.
func weightedSum(_ y: [Float], _ weights: [Float]) -> Double {
    zip(y, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

func expectClose(_ actual: [Double], _ expected: [Double], tolerance: Double = 1e-12,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (x, y) in zip(actual, expected) {
        #expect(abs(x - y) <= tolerance, "\(actual) != \(expected)", sourceLocation: sourceLocation)
    }
}

/// A frozen linear with random weights and bias (no gradient buffers).
func frozenLinear(name: String = "layer", inputs: Int, outputs: Int, _ generator: inout SeededRandom) -> Linear {
    let layer = Linear(name: name, inFeatures: inputs, outFeatures: outputs, role: .backbone,
                       initializer: ParameterInitializer(seed: 0))
    _ = layer.weight.values.update(from: generator.floats(inputs * outputs))
    _ = layer.bias!.values.update(from: generator.floats(outputs))
    for parameter in layer.parameters { parameter.setTrainable(false) }
    return layer
}
