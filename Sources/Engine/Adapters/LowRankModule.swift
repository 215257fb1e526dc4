/// One low-rank module of an adapted linear layer: LoRA (`LoRAModule`) or DoRA (`DoRAModule`),
/// each in its own file around the branch both share (`LowRankBranch`: the factors, LoRA
/// dropout and PDRS's rank masking).
///
/// A module never multiplies by the frozen weight itself: the layer that wraps the frozen
/// linear passes f = W x0 + b. That lets MTLoRA's task modules share one W x_shared, and lets the
/// module's own input x differ from x0 (MTLoRA's 'matrix' mode: y_t = W x_shared + b + s B_t A_t x_t).
public protocol LowRankModule: AnyObject {
    /// s B A x, with its factors, dropout and PDRS state.
    var branch: LowRankBranch { get }
    /// Every trainable parameter: the factors and the kind's own.
    var parameters: [Parameter] { get }
    /// Trainable values that still take part: the live components and the kind's own.
    var parameterCount: Int { get }
    /// Multiply-accumulates of one forward pass over `tokens` inputs at the current rank, beyond
    /// the frozen W x and the once-per-pass work.
    func multiplyAccumulates(tokens: Int) -> Int
    /// Work done once per forward pass whatever its batch.
    var perPassMultiplyAccumulates: Int { get }
    /// y (rows x outputs) from f = W x0 + b (rows x outputs), the module's input x (rows x
    /// inputs), and the frozen weight and bias, over the components this pass draws
    /// (`LowRankBranch.activeRank`). Returns the backward pass.
    func forward(frozenOutput f: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int,
                 weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ context: ForwardContext,
                 output y: UnsafeMutablePointer<Float>) -> LowRankPullback
}

/// A module's backward pass, given the input x of its forward pass again and dL/dy: accumulates
/// the module's gradients, writes dL/df (rows x outputs, for the frozen layer's pullback) and
/// adds dL/dx into the input gradient when there is one.
public typealias LowRankPullback = (_ input: UnsafePointer<Float>, _ outputGradient: UnsafePointer<Float>,
                                    _ frozenOutputGradient: UnsafeMutablePointer<Float>,
                                    _ inputGradient: UnsafeMutablePointer<Float>?) -> Void

extension LowRankModule {
    public var inputs: Int { branch.inputs }
    public var outputs: Int { branch.outputs }
    public var rank: Int { branch.rank }

    /// Draws this pass's active components and counts its work into `context`.
    func beginPass(tokens: Int, _ context: ForwardContext) -> Int {
        let active = branch.activeRank(training: context.training)
        context.count(multiplyAccumulates(tokens: tokens))
        context.countPerPass(perPassMultiplyAccumulates)
        return active
    }
}

/// The kinds of low-rank module, as the run config names them.
public enum LowRankKind: String, Sendable, CaseIterable {
    case lora, dora

    /// A module of this kind for a frozen linear whose weight (outputs x inputs) is `weight`
    /// (DoRA's magnitude starts from it; LoRA needs none); `name` is the adapted layer's. It
    /// starts as the frozen layer.
    public func module(name: String, inputs: Int, outputs: Int, rank: Int, scale: Float,
                       weight: UnsafeBufferPointer<Float>?, shrinking: RankShrinker.Options? = nil, dropout: Float = 0,
                       seed: UInt64) -> any LowRankModule {
        let branch = LowRankBranch(name: name, inputs: inputs, outputs: outputs, rank: rank, scale: scale,
                                   shrinking: shrinking, dropout: dropout, seed: seed)
        switch self {
        case .lora: return LoRAModule(branch: branch)
        case .dora:
            guard let weight else { preconditionFailure("\(name): DoRA needs the frozen weight to initialise its magnitude") }
            return DoRAModule(name: name, branch: branch, weight: weight)
        }
    }
}
