import Foundation

/// LayerNorm over each row's channels (eps 1e-5, as PyTorch), with learned scale and shift.
public final class LayerNorm {
    public let weight: Parameter
    public let bias: Parameter
    let epsilon: Float = 1e-5

    public init(name: String, features: Int, role: ParameterRole) {
        weight = Parameter(name: name + ".weight", shape: [features], role: role,
                           initialValues: [Float](repeating: 1, count: features))
        bias = Parameter(name: name + ".bias", shape: [features], role: role)
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
        let rows = x.rows, n = x.columns
        precondition(n == weight.count, "\(weight.name): \(n) channels, expected \(weight.count)")
        context.count(rows * n)
        var normalized = Matrix(uninitialized: rows, n)
        var y = Matrix(uninitialized: rows, n)
        var inverseDeviations = [Float](repeating: 0, count: rows)
        let gamma = weight.values, beta = bias.values
        x.values.withUnsafeBufferPointer { x in
            normalized.values.withUnsafeMutableBufferPointer { xHat in
                y.values.withUnsafeMutableBufferPointer { y in
                  inverseDeviations.withUnsafeMutableBufferPointer { inverseDeviations in
                    parallelChunks(rows, minimumChunk: 64) { _, range in for r in range {
                        let row = x.baseAddress! + r * n
                        var mean: Float = 0
                        for c in 0..<n { mean += row[c] }
                        mean /= Float(n)
                        var variance: Float = 0
                        for c in 0..<n { let d = row[c] - mean; variance += d * d }
                        let inverse = 1 / (variance / Float(n) + epsilon).squareRoot()
                        inverseDeviations[r] = inverse
                        let base = r * n
                        for c in 0..<n {
                            let h = (row[c] - mean) * inverse
                            xHat[base + c] = h
                            y[base + c] = h * gamma[c] + beta[c]
                        }
                    } }
                  }
                }
            }
        }
        return (y, { [weight, bias] dy in
            var dx = Matrix(uninitialized: rows, n)
            let gamma = weight.values
            normalized.values.withUnsafeBufferPointer { xHat in
                dy.values.withUnsafeBufferPointer { dy in
                    dx.values.withUnsafeMutableBufferPointer { dx in
                        parallelChunks(rows, minimumChunk: 64) { _, range in for r in range {
                            let base = r * n
                            var sumG: Float = 0, sumGH: Float = 0
                            for c in 0..<n {
                                let g = dy[base + c] * gamma[c]
                                sumG += g; sumGH += g * xHat[base + c]
                            }
                            let meanG = sumG / Float(n), meanGH = sumGH / Float(n)
                            let inverse = inverseDeviations[r]
                            for c in 0..<n {
                                let g = dy[base + c] * gamma[c]
                                dx[base + c] = inverse * (g - meanG - xHat[base + c] * meanGH)
                            }
                        } }
                        if let dGamma = weight.gradient, let dBeta = bias.gradient {
                            for r in 0..<rows {
                                let base = r * n
                                for c in 0..<n {
                                    dGamma[c] += dy[base + c] * xHat[base + c]
                                    dBeta[c] += dy[base + c]
                                }
                            }
                        }
                    }
                }
            }
            return dx
        })
    }
}

/// BatchNorm over the channels of channels-last rows: batch statistics while training (and a
/// running average with momentum 0.1, PyTorch's default), the running statistics in evaluation.
public final class BatchNorm {
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Parameter
    public let runningVariance: Parameter
    let epsilon: Float = 1e-5
    let momentum: Float = 0.1

    public init(name: String, features: Int, role: ParameterRole) {
        weight = Parameter(name: name + ".weight", shape: [features], role: role,
                           initialValues: [Float](repeating: 1, count: features))
        bias = Parameter(name: name + ".bias", shape: [features], role: role)
        runningMean = Parameter(name: name + ".running_mean", shape: [features], role: .statistic)
        runningVariance = Parameter(name: name + ".running_var", shape: [features], role: .statistic,
                                    initialValues: [Float](repeating: 1, count: features))
    }

    public var parameters: [Parameter] { [weight, bias, runningMean, runningVariance] }

    public func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
        let rows = x.rows, n = x.columns
        context.count(rows * n)
        var mean = [Float](repeating: 0, count: n), inverse = [Float](repeating: 0, count: n)
        if context.training {
            var sum = [Double](repeating: 0, count: n), squares = [Double](repeating: 0, count: n)
            x.values.withUnsafeBufferPointer { x in
                for r in 0..<rows {
                    let row = x.baseAddress! + r * n
                    for c in 0..<n { let v = Double(row[c]); sum[c] += v; squares[c] += v * v }
                }
            }
            for c in 0..<n {
                let m = sum[c] / Double(rows)
                let variance = max(0, squares[c] / Double(rows) - m * m)
                mean[c] = Float(m)
                inverse[c] = Float(1 / (variance + Double(epsilon)).squareRoot())
                let unbiased = rows > 1 ? variance * Double(rows) / Double(rows - 1) : variance
                runningMean.values[c] = (1 - momentum) * runningMean.values[c] + momentum * Float(m)
                runningVariance.values[c] = (1 - momentum) * runningVariance.values[c] + momentum * Float(unbiased)
            }
        } else {
            for c in 0..<n {
                mean[c] = runningMean.values[c]
                inverse[c] = 1 / (runningVariance.values[c] + epsilon).squareRoot()
            }
        }
        var normalized = Matrix(uninitialized: rows, n), y = Matrix(uninitialized: rows, n)
        let gamma = weight.values, beta = bias.values
        x.values.withUnsafeBufferPointer { x in
            normalized.values.withUnsafeMutableBufferPointer { xHat in
                y.values.withUnsafeMutableBufferPointer { y in
                    for r in 0..<rows {
                        let base = r * n
                        for c in 0..<n {
                            let h = (x[base + c] - mean[c]) * inverse[c]
                            xHat[base + c] = h
                            y[base + c] = h * gamma[c] + beta[c]
                        }
                    }
                }
            }
        }
        let training = context.training
        return (y, { [weight, bias] dy in
            var sumG = [Float](repeating: 0, count: n), sumGH = [Float](repeating: 0, count: n)
            var dx = Matrix(uninitialized: rows, n)
            normalized.values.withUnsafeBufferPointer { xHat in
                dy.values.withUnsafeBufferPointer { dy in
                    for r in 0..<rows {
                        let base = r * n
                        for c in 0..<n { sumG[c] += dy[base + c]; sumGH[c] += dy[base + c] * xHat[base + c] }
                    }
                    if let dGamma = weight.gradient, let dBeta = bias.gradient {
                        for c in 0..<n { dGamma[c] += sumGH[c]; dBeta[c] += sumG[c] }
                    }
                    let gamma = weight.values
                    dx.values.withUnsafeMutableBufferPointer { dx in
                        for r in 0..<rows {
                            let base = r * n
                            for c in 0..<n {
                                dx[base + c] = training
                                    ? gamma[c] * inverse[c] * (dy[base + c] - sumG[c] / Float(rows)
                                                               - xHat[base + c] * sumGH[c] / Float(rows))
                                    : gamma[c] * inverse[c] * dy[base + c]
                            }
                        }
                    }
                }
            }
            return dx
        })
    }
}
