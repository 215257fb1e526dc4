import Tensors

/// The low-rank branch s B A x that every kind of low-rank module (LoRA, DoRA) adds, with what
/// comes with it whatever the kind: the factors, LoRA dropout on the branch's input, and PDRS's
/// rank masking (prefix draws, importance, shrinking).
///
/// A and B keep their initial shape for the whole run. The live components are `live` (indices
/// into the stored rows of A and columns of B, most important first once PDRS has shrunk the
/// rank); each pass gathers them into contiguous factors, so erased components cost nothing,
/// get no gradient, and the optimizer never sees a parameter change shape.
public final class LowRankBranch {
    public let scale: Float
    public let inputs: Int
    public let outputs: Int
    /// A: [r_init, inputs].
    public let weightA: Parameter
    /// B: [outputs, r_init].
    public let weightB: Parameter
    public private(set) var live: [Int]
    public private(set) var shrinker: RankShrinker?
    /// The largest prefix a training forward pass used since the last importance update.
    private var activeThisStep = 0
    /// The prefix of the latest forward pass.
    public private(set) var lastActive = 0
    /// PDRS prefix draws so far; draw k depends only on (seed, name, k), so a resumed run that
    /// restores the count draws what the uninterrupted run would have.
    public private(set) var draws = 0
    private let drawSeed: UInt64
    /// LoRA dropout on the module's input in training passes (MTLoRA's and peft's lora_dropout:
    /// the low-rank branch reads the dropped input, the frozen path the whole one).
    public let dropout: Float
    private let dropoutKey: UInt64

    /// `name` is the adapted layer's (e.g. `layers.0.blocks.0.attn.qkv`); the factors are
    /// `name.lora_A` and `name.lora_B`. A is Kaiming-uniform with a = sqrt 5 (bound
    /// 1 / sqrt(inputs)) from a stream keyed by seed and name, B is 0: the branch starts at 0.
    public init(name: String, inputs: Int, outputs: Int, rank: Int, scale: Float,
                shrinking: RankShrinker.Options? = nil, dropout: Float = 0, seed: UInt64) {
        precondition(rank >= 1, "\(name): rank must be at least 1")
        precondition((0..<1).contains(dropout), "\(name): dropout must lie in [0, 1)")
        self.scale = scale
        self.inputs = inputs
        self.outputs = outputs
        var generator = SeededRandom(seed: seed ^ stableHash(name + ".lora_A"))
        let bound = 1 / Float(inputs).squareRoot()
        let a = (0..<(rank * inputs)).map { _ in Float(2 * generator.unit() - 1) * bound }
        weightA = Parameter(name: name + ".lora_A", shape: [rank, inputs], role: .adapter, initialValues: a)
        weightB = Parameter(name: name + ".lora_B", shape: [outputs, rank], role: .adapter)
        live = Array(0..<rank)
        shrinker = shrinking.map { RankShrinker(rank: rank, options: $0) }
        drawSeed = seed ^ stableHash(name + ".prefix")
        self.dropout = dropout
        dropoutKey = stableHash(name + ".lora_dropout")
    }

    public var parameters: [Parameter] { [weightA, weightB] }
    public var rank: Int { live.count }
    private var storedRank: Int { weightA.shape[0] }

    /// Trainable values that still take part: the live components.
    public var parameterCount: Int { rank * (inputs + outputs) }

    /// Multiply-accumulates of B (A x) over `tokens` inputs at the current rank.
    public func multiplyAccumulates(tokens: Int) -> Int { tokens * parameterCount }

    // MARK: the live components as contiguous factors

    /// The live components, gathered in order.
    public var factors: LowRankFactors { gather(weightA.values, weightB.values) }

    /// The live components' gradients (zeros when the module is frozen).
    public var gradient: LowRankFactors {
        guard let gradA = weightA.gradient, let gradB = weightB.gradient else {
            return LowRankFactors(inputs: inputs, outputs: outputs, rank: rank,
                                  a: Array(repeating: 0, count: rank * inputs), b: Array(repeating: 0, count: outputs * rank))
        }
        return gather(gradA, gradB)
    }

    private func gather(_ a: UnsafeMutableBufferPointer<Float>, _ b: UnsafeMutableBufferPointer<Float>) -> LowRankFactors {
        LowRankFactors(inputs: inputs, outputs: outputs, rank: rank,
                       a: LowRankFactors.rows(live, of: Array(a), columns: inputs),
                       b: LowRankFactors.columns(live, of: Array(b), rows: outputs, columns: storedRank))
    }

    /// Writes `factors` into the live components' storage: a checkpoint load, or a test setting
    /// a trained state.
    public func setParameters(factors newFactors: LowRankFactors) {
        precondition(newFactors.rank == rank && newFactors.inputs == inputs && newFactors.outputs == outputs,
                     "factors of a different shape")
        for (j, s) in live.enumerated() {
            for i in 0..<inputs { weightA.values[s * inputs + i] = newFactors.a[j * inputs + i] }
            for o in 0..<outputs { weightB.values[o * storedRank + s] = newFactors.b[o * rank + j] }
        }
    }

    /// Adds gradients of the live components (in live order) into the stored gradients.
    private func scatterAdd(_ gradient: LowRankFactors) {
        guard let gradA = weightA.gradient, let gradB = weightB.gradient else { return }
        for (j, s) in live.enumerated() {
            for i in 0..<inputs { gradA[s * inputs + i] += gradient.a[j * inputs + i] }
            for o in 0..<outputs { gradB[o * storedRank + s] += gradient.b[o * rank + j] }
        }
    }

    // MARK: forward and backward

    /// What a forward pass keeps for its backward pass.
    public struct Pass {
        public let rows: Int
        public let active: Int
        /// The factors and the scale (PDRS's prefix scale included) the pass used.
        public let factors: LowRankFactors
        public let scale: Float
        let hidden: [Float]
        /// LoRA dropout: the mask (0 or 1 / (1 - p) per input value) and the input it left.
        let dropMask: [Float]?
        let droppedInput: [Float]?
    }

    /// This training pass's dropout mask over rows x inputs values (nil: nothing dropped). Each
    /// row draws from its own stream, keyed by the pass's and the row's index, so the rows fill
    /// side by side on the compute threads and the mask is the same at any thread count.
    private func dropoutMask(rows: Int, _ context: ForwardContext) -> [Float]? {
        guard dropout > 0, var generator = context.maskGenerator(dropoutKey, stream: context.stream) else { return nil }
        let passKey = generator.next(), rate = Double(dropout), kept = 1 / (1 - dropout), inputs = self.inputs
        var mask = [Float](repeating: 0, count: rows * inputs)
        mask.withUnsafeMutableBufferPointer { mask in
            let mask = mask.baseAddress!
            parallelChunks(rows, minimumChunk: max(1, (1 << 14) / inputs)) { _, range in
                for row in range {
                    var rowGenerator = SeededRandom(seed: passKey ^ (UInt64(row) &* 0x9E37_79B9_7F4A_7C15))
                    for j in 0..<inputs { mask[row * inputs + j] = rowGenerator.unit() < rate ? 0 : kept }
                }
            }
        }
        return mask
    }

    /// How many components the next forward pass uses: a PDRS prefix draw while training, all
    /// of them otherwise.
    public func activeRank(training: Bool) -> Int {
        guard training, let shrinker else { return rank }
        var generator = SeededRandom(seed: drawSeed &+ UInt64(draws) &* 0xD1B5_4A32_D192_ED03)
        draws += 1
        return shrinker.sampleActiveRank(using: &generator)
    }

    /// output += s B A x over the first `active` components, x (rows x inputs) after dropout.
    /// Only a training pass counts towards PDRS's importance, so evaluating or counting MACs
    /// between training steps leaves the run unchanged; only a training pass with a noise key
    /// drops inputs.
    public func forward(input x: UnsafePointer<Float>, rows: Int, active: Int, _ context: ForwardContext,
                        output: UnsafeMutablePointer<Float>) -> Pass {
        let factors = self.factors
        let effectiveScale = scale * (shrinker?.prefixScale(active: active) ?? 1)
        if context.training { activeThisStep = max(activeThisStep, active) }
        lastActive = active
        let dropMask = dropoutMask(rows: rows, context)
        let droppedInput = dropMask.map { mask in (0..<(rows * inputs)).map { x[$0] * mask[$0] } }
        var hidden = [Float](repeating: 0, count: rows * active)
        withBranchInput(x, droppedInput) { x in
            factors.forward(input: x, rows: rows, active: active, scale: effectiveScale,
                            hidden: &hidden, output: output, accumulate: true)
        }
        return Pass(rows: rows, active: active, factors: factors, scale: effectiveScale, hidden: hidden,
                    dropMask: dropMask, droppedInput: droppedInput)
    }

    /// From dL/d(output) of `forward`, accumulates the factors' gradients and adds dL/dx into
    /// `inputGradient` when given.
    public func backward(_ pass: Pass, input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                         inputGradient dx: UnsafeMutablePointer<Float>?) {
        let rows = pass.rows
        var gradient = LowRankFactors(inputs: inputs, outputs: outputs, rank: rank,
                                      a: Array(repeating: 0, count: rank * inputs), b: Array(repeating: 0, count: outputs * rank))
        var scratch = [Float](repeating: 0, count: rows * pass.active)
        if let mask = pass.dropMask, let droppedInput = pass.droppedInput {
            // The branch saw the dropped input: its gradient reaches x through the same mask.
            var dDropped = [Float](repeating: 0, count: rows * inputs)
            dDropped.withUnsafeMutableBufferPointer { dDropped in
                pass.factors.backward(input: droppedInput, rows: rows, active: pass.active, scale: pass.scale,
                                      hidden: pass.hidden, outputGradient: dy, gradient: &gradient,
                                      inputGradient: dx == nil ? nil : dDropped.baseAddress!, scratch: &scratch)
            }
            if let dx { for k in 0..<(rows * inputs) { dx[k] += dDropped[k] * mask[k] } }
        } else {
            pass.factors.backward(input: x, rows: rows, active: pass.active, scale: pass.scale,
                                  hidden: pass.hidden, outputGradient: dy, gradient: &gradient,
                                  inputGradient: dx, scratch: &scratch)
        }
        scatterAdd(gradient)
    }

    /// Runs `body` on the branch's input: the dropped one when dropout drew a mask.
    private func withBranchInput(_ x: UnsafePointer<Float>, _ dropped: [Float]?, _ body: (UnsafePointer<Float>) -> Void) {
        guard let dropped else { return body(x) }
        dropped.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    // MARK: PDRS

    /// Folds this step's gradients of the components used into the importance EMA. Call after
    /// the backward pass, before gradient clipping and the optimizer step.
    public func recordImportance() {
        guard shrinker != nil, activeThisStep > 0 else { return }
        let factors = self.factors, gradient = self.gradient
        let scores = RankShrinker.componentScores(
            a: factors.a, gradA: gradient.a, b: factors.b, gradB: gradient.b,
            inputs: inputs, outputs: outputs, rank: rank, active: activeThisStep)
        shrinker!.accumulate(activeScores: scores)
        activeThisStep = 0
    }

    /// The epoch-end coverage step: the uncovered components leave the computation for good.
    @discardableResult
    public func shrinkRank() -> RankShrink? {
        guard shrinker != nil else { return nil }
        let shrink = shrinker!.shrink()
        live = shrink.kept.map { live[$0] }
        return shrink
    }

    /// PDRS state for a checkpoint: the live components in order, the shrinker's EMA and counts,
    /// and the number of prefix draws.
    public var shrinkingState: (live: [Int], importance: [Double], observations: [Int], draws: Int)? {
        shrinker.map { (live, $0.importance, $0.observations, draws) }
    }

    public func restoreShrinking(live newLive: [Int], importance: [Double], observations: [Int], draws newDraws: Int) {
        guard let options = shrinker?.options else { return }
        precondition(newLive.allSatisfy { (0..<storedRank).contains($0) } && importance.count == newLive.count
                     && observations.count == newLive.count, "PDRS state of a different shape")
        live = newLive
        draws = newDraws
        shrinker = RankShrinker(restoring: options, importance: importance, observations: observations)
    }
}
