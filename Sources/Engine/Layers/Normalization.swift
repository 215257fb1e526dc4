import Foundation
import Tensors

/// LayerNorm over each row's channels (eps 1e-5 as PyTorch unless told: PVT-v2's blocks use
/// 1e-6), with learned scale and shift.
public final class LayerNorm {
    public let weight: Parameter
    public let bias: Parameter
    let epsilon: Float

    public init(name: String, features: Int, role: ParameterRole, epsilon: Float = 1e-5) {
        self.epsilon = epsilon
        weight = Parameter(name: name + ".weight", shape: [features], role: role,
                           initialValues: [Float](repeating: 1, count: features))
        bias = Parameter(name: name + ".bias", shape: [features], role: role, kind: .bias)
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
        let rows = x.rows, n = x.columns
        precondition(n == weight.count, "\(weight.name): \(n) channels, expected \(weight.count)")
        context.count(rows * n)
        var y = Matrix(uninitialized: rows, n)
        // Each row's mean, then each row's 1 / standard deviation.
        var statistics = [Float](unsafeUninitializedCapacity: 2 * rows) { _, count in count = 2 * rows }
        x.values.withUnsafeBufferPointer { x in
            y.values.withUnsafeMutableBufferPointer { y in
                statistics.withUnsafeMutableBufferPointer { statistics in
                    layerNormForward(x.baseAddress!, weight: weight.values.baseAddress!, bias: bias.values.baseAddress!,
                                     y.baseAddress!, means: statistics.baseAddress!, rstds: statistics.baseAddress! + rows,
                                     rows: rows, channels: n, epsilon: epsilon)
                }
            }
        }
        return (y, { [weight, bias] dy in
            var dx = Matrix(zeros: rows, n)
            x.values.withUnsafeBufferPointer { x in
                dy.values.withUnsafeBufferPointer { dy in
                    dx.values.withUnsafeMutableBufferPointer { dx in
                        statistics.withUnsafeBufferPointer { statistics in
                            layerNormBackward(x.baseAddress!, weight: weight.values.baseAddress!,
                                              means: statistics.baseAddress!, rstds: statistics.baseAddress! + rows,
                                              outputGradient: dy.baseAddress!, inputGradient: dx.baseAddress!,
                                              weightGradient: weight.gradient?.baseAddress,
                                              biasGradient: bias.gradient?.baseAddress, rows: rows, channels: n)
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
        bias = Parameter(name: name + ".bias", shape: [features], role: role, kind: .bias)
        runningMean = Parameter(name: name + ".running_mean", shape: [features], role: .statistic)
        runningVariance = Parameter(name: name + ".running_var", shape: [features], role: .statistic,
                                    initialValues: [Float](repeating: 1, count: features))
    }

    public var parameters: [Parameter] { [weight, bias, runningMean, runningVariance] }

    /// BatchNorm, then ReLU in the same pass when `relu` is set (every head's BatchNorm is
    /// followed by one): the pullback then takes the ReLU output's gradient and keeps the ReLU
    /// output (which the next layer keeps anyway) instead of a normalised copy.
    public func forward(_ x: Matrix, _ context: ForwardContext, relu: Bool = false) -> (Matrix, Pullback) {
        let layout = ChannelLayout(rows: x.rows, channels: x.columns)
        context.count(x.rows * x.columns)
        var means = [Float](repeating: 0, count: x.columns), rstds = means
        let training = context.training
        x.values.withUnsafeBufferPointer { x in
            batchNormStatistics(x.baseAddress!, layout, means: &means, rstds: &rstds,
                                runningMean: runningMean.values.baseAddress!,
                                runningVariance: runningVariance.values.baseAddress!,
                                training: training, momentum: momentum, epsilon: epsilon)
        }
        var y = Matrix(uninitialized: x.rows, x.columns)
        x.values.withUnsafeBufferPointer { x in
            y.values.withUnsafeMutableBufferPointer { y in
                batchNormForward(x.baseAddress!, layout, means: means, rstds: rstds, weight: weight.values.baseAddress!,
                                 bias: bias.values.baseAddress!, y.baseAddress!, relu: relu)
            }
        }
        let reluOutput = relu ? y : nil
        return (y, { [weight, bias, means, rstds] dy in
            var dx = Matrix(uninitialized: x.rows, x.columns)
            x.values.withUnsafeBufferPointer { x in
                dy.values.withUnsafeBufferPointer { dy in
                    dx.values.withUnsafeMutableBufferPointer { dx in
                        withOptionalBuffer(reluOutput) { reluOutput in
                            batchNormBackward(x.baseAddress!, layout, means: means, rstds: rstds,
                                              weight: weight.values.baseAddress!, training: training,
                                              outputGradient: dy.baseAddress!, reluOutput: reluOutput,
                                              inputGradient: dx.baseAddress!, accumulate: false,
                                              weightGradient: weight.gradient?.baseAddress,
                                              biasGradient: bias.gradient?.baseAddress)
                        }
                    }
                }
            }
            return dx
        })
    }
}

/// Calls `body` with a pointer to the matrix's values, or nil without a matrix.
private func withOptionalBuffer<Result>(_ matrix: Matrix?, _ body: (UnsafePointer<Float>?) -> Result) -> Result {
    guard let matrix else { return body(nil) }
    return matrix.values.withUnsafeBufferPointer { body($0.baseAddress!) }
}
