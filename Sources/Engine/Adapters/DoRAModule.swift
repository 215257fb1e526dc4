/// DoRA (Liu et al. 2024) as peft computes it: y = b + (m / n) (f - b + s B A x), with
/// n = the row norms of W + s B A, held constant (no gradient flows through n), and m a learned
/// magnitude per output (`WeightDecomposition`).
public final class DoRAModule: LowRankModule {
    public let branch: LowRankBranch
    /// m: [outputs], `name.lora_magnitude`.
    public let weightMagnitude: Parameter

    /// m starts at the row norms of the frozen `weight` (outputs x inputs): the module starts as
    /// the frozen layer.
    public init(name: String, branch: LowRankBranch, weight: UnsafeBufferPointer<Float>) {
        let (inputs, outputs) = (branch.inputs, branch.outputs)
        precondition(weight.count == outputs * inputs, "\(name): frozen weight of a different shape")
        let norms = (0..<outputs).map { o in
            Float((0..<inputs).reduce(0.0) { $0 + Double(weight[o * inputs + $1]) * Double(weight[o * inputs + $1]) }.squareRoot())
        }
        self.branch = branch
        weightMagnitude = Parameter(name: name + ".lora_magnitude", shape: [outputs], role: .adapter, initialValues: norms)
    }

    public var parameters: [Parameter] { branch.parameters + [weightMagnitude] }
    public var parameterCount: Int { branch.parameterCount + weightMagnitude.count }
    /// B (A x), then m / n on every output.
    public func multiplyAccumulates(tokens: Int) -> Int { branch.multiplyAccumulates(tokens: tokens) + tokens * branch.outputs }
    /// The norms of W + s B A: the product B A, then the squares.
    public var perPassMultiplyAccumulates: Int { branch.outputs * branch.inputs * (branch.rank + 1) }

    public var magnitude: [Float] { Array(weightMagnitude.values) }

    /// Writes m: a checkpoint load, or a test setting a trained state.
    public func setMagnitude(_ newMagnitude: [Float]) {
        precondition(newMagnitude.count == branch.outputs, "magnitude of a different size")
        _ = weightMagnitude.values.update(from: newMagnitude)
    }

    public func forward(frozenOutput f: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int,
                        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ context: ForwardContext,
                        output y: UnsafeMutablePointer<Float>) -> LowRankPullback {
        let active = beginPass(tokens: rows, context)
        let outputs = branch.outputs
        // The direction f - b + s B A x, and the norms it is divided by.
        var direction = Array(UnsafeBufferPointer(start: f, count: rows * outputs))
        if let bias {
            for k in direction.indices { direction[k] -= bias[k % outputs] }
        }
        let pass = branch.forward(input: x, rows: rows, active: active, context, output: &direction)
        let norms = WeightDecomposition.rowNorms(weight: weight, factors: pass.factors, active: active, scale: pass.scale)
        WeightDecomposition.forward(direction: direction, rows: rows, outputs: outputs,
                                    magnitude: magnitude, norms: norms, bias: bias, output: y)
        return { [branch, weightMagnitude] x, dy, df, dx in
            var dm = [Float](repeating: 0, count: outputs)
            WeightDecomposition.backward(direction: direction, rows: rows, outputs: outputs,
                                         magnitude: Array(weightMagnitude.values), norms: norms, outputGradient: dy,
                                         magnitudeGradient: &dm, directionGradient: df)
            if let gradM = weightMagnitude.gradient { for o in 0..<outputs { gradM[o] += dm[o] } }
            branch.backward(pass, input: x, outputGradient: df, inputGradient: dx)
        }
    }
}

/// DoRA's weight decomposition as peft computes it: y = bias + (m / n) * (W x + s B A x), with
/// n the row norm of W + s B A over the input features, treated as a constant (no gradient flows
/// through n), and m a learned magnitude per output unit.
public enum WeightDecomposition {
    /// n: the L2 norm of each row of W + s B_b A_b.
    public static func rowNorms(weight: UnsafePointer<Float>, factors: LowRankFactors, active: Int, scale: Float) -> [Float] {
        let merged = factors.adaptedWeight(weight, active: active, scale: scale)
        return (0..<factors.outputs).map { o in
            var sum: Double = 0
            for i in 0..<factors.inputs { sum += Double(merged[o * factors.inputs + i]) * Double(merged[o * factors.inputs + i]) }
            return Float(sum.squareRoot())
        }
    }

    /// y[r, o] = bias[o] + magnitude[o] / norms[o] * direction[r, o], where direction = W x + s B A x
    /// (rows x outputs, kept for the backward pass).
    public static func forward(direction: UnsafePointer<Float>, rows: Int, outputs: Int,
                               magnitude: [Float], norms: [Float], bias: UnsafePointer<Float>?,
                               output y: UnsafeMutablePointer<Float>) {
        let ratio = zip(magnitude, norms).map { $0 / $1 }
        for r in 0..<rows {
            for o in 0..<outputs {
                y[r * outputs + o] = ratio[o] * direction[r * outputs + o] + (bias?[o] ?? 0)
            }
        }
    }

    /// From dL/dy: accumulates dL/dm into `magnitudeGradient` and writes dL/d(direction) =
    /// dL/dy * m / n, which flows on into W x (the frozen path) and s B A x (the factors).
    public static func backward(direction: UnsafePointer<Float>, rows: Int, outputs: Int,
                                magnitude: [Float], norms: [Float], outputGradient dy: UnsafePointer<Float>,
                                magnitudeGradient: inout [Float], directionGradient: UnsafeMutablePointer<Float>) {
        for o in 0..<outputs {
            let ratio = magnitude[o] / norms[o]
            var alongDirection: Double = 0
            for r in 0..<rows {
                let k = r * outputs + o
                alongDirection += Double(dy[k]) * Double(direction[k])
                directionGradient[k] = dy[k] * ratio
            }
            magnitudeGradient[o] += Float(alongDirection) / norms[o]
        }
    }
}
