/// LoRA (Hu et al. 2021): y = f + s B A x, f = W x0 + b the frozen layer's output.
public final class LoRAModule: LowRankModule {
    public let branch: LowRankBranch

    public init(branch: LowRankBranch) { self.branch = branch }

    public var parameters: [Parameter] { branch.parameters }
    public var parameterCount: Int { branch.parameterCount }
    public func multiplyAccumulates(tokens: Int) -> Int { branch.multiplyAccumulates(tokens: tokens) }
    public var perPassMultiplyAccumulates: Int { 0 }

    public func forward(frozenOutput f: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int,
                        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ context: ForwardContext,
                        output y: UnsafeMutablePointer<Float>) -> LowRankPullback {
        let active = beginPass(tokens: rows, context)
        y.update(from: f, count: rows * branch.outputs)
        let pass = branch.forward(input: x, rows: rows, active: active, context, output: y)
        return { [branch] x, dy, df, dx in
            df.update(from: dy, count: rows * branch.outputs)
            branch.backward(pass, input: x, outputGradient: df, inputGradient: dx)
        }
    }
}
