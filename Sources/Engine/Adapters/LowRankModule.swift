/// One low-rank module (LoRA or DoRA) of an adapted linear layer, with its gradients and, under
/// PDRS, its rank shrinker.
///
/// The module never sees the frozen weight's product itself: the layer that wraps the frozen
/// linear passes z = W x0 (no bias). That lets MTLoRA's task modules share one W x_shared, and
/// lets the module's own input x differ from x0 (MTLoRA's 'matrix' mode: y_t = W x_shared + b +
/// s B_t A_t x_t).
///   LoRA: y = z + bias + s B A x
///   DoRA: y = bias + (m / n) (z + s B A x), n = row norms of W + s B A, held constant.
public final class LowRankModule {
    public enum Kind: String, Sendable, CaseIterable { case lora, dora }

    public let kind: Kind
    public let scale: Float
    public private(set) var factors: LowRankFactors
    public private(set) var gradient: LowRankFactors
    /// DoRA's magnitude m, one per output unit (empty for LoRA).
    public private(set) var magnitude: [Float]
    public private(set) var magnitudeGradient: [Float]
    public private(set) var shrinker: RankShrinker?

    public var inputs: Int { factors.inputs }
    public var outputs: Int { factors.outputs }
    public var rank: Int { factors.rank }

    /// A is Kaiming-uniform with a = sqrt 5 (bound 1 / sqrt(inputs)), B is 0, so the module starts
    /// as the frozen layer. DoRA's m starts at the row norms of the frozen W (`weight`, outputs x
    /// inputs), which makes m / n = 1 at initialisation.
    public init(kind: Kind, inputs: Int, outputs: Int, rank: Int, scale: Float,
                weight: [Float]?, shrinking: RankShrinker.Options? = nil,
                generator: inout some RandomNumberGenerator) {
        let bound = 1 / Float(inputs).squareRoot()
        let a = (0..<(rank * inputs)).map { _ in Float.random(in: -bound...bound, using: &generator) }
        factors = LowRankFactors(inputs: inputs, outputs: outputs, rank: rank,
                                 a: a, b: Array(repeating: 0, count: outputs * rank))
        gradient = LowRankFactors(inputs: inputs, outputs: outputs, rank: rank,
                                  a: Array(repeating: 0, count: rank * inputs), b: Array(repeating: 0, count: outputs * rank))
        self.kind = kind
        self.scale = scale
        switch kind {
        case .lora:
            magnitude = []
        case .dora:
            guard let weight else { preconditionFailure("DoRA needs the frozen weight to initialise its magnitude") }
            magnitude = WeightDecomposition.rowNorms(weight: weight, factors: factors, active: rank, scale: 0)
        }
        magnitudeGradient = Array(repeating: 0, count: magnitude.count)
        shrinker = shrinking.map { RankShrinker(rank: rank, options: $0) }
    }

    /// Replaces the trainable values (loading a checkpoint, or an optimizer step).
    public func setParameters(factors newFactors: LowRankFactors, magnitude newMagnitude: [Float]? = nil) {
        precondition(newFactors.inputs == inputs && newFactors.outputs == outputs && newFactors.rank == rank,
                     "factors of a different shape")
        factors = newFactors
        if let newMagnitude {
            precondition(newMagnitude.count == magnitude.count, "magnitude of a different size")
            magnitude = newMagnitude
        }
    }

    public func zeroGradients() {
        for k in gradient.a.indices { gradient.a[k] = 0 }
        for k in gradient.b.indices { gradient.b[k] = 0 }
        for k in magnitudeGradient.indices { magnitudeGradient[k] = 0 }
    }

    /// Trainable values: the factors plus DoRA's magnitude.
    public var parameterCount: Int { factors.parameterCount + magnitude.count }

    /// Multiply-accumulates of one forward pass over `tokens` inputs at the current rank, beyond
    /// the frozen W x: B (A x), and for DoRA the norms of W + s B A (once per pass) and m / n.
    public func multiplyAccumulates(tokens: Int) -> Int {
        let lowRank = factors.multiplyAccumulates(tokens: tokens)
        switch kind {
        case .lora: return lowRank
        case .dora: return lowRank + outputs * inputs * (rank + 1) + tokens * outputs
        }
    }

    // MARK: forward and backward

    /// What a forward pass keeps for its backward pass.
    public struct Pass {
        public let rows: Int
        public let active: Int
        let hidden: [Float]
        /// DoRA: z + s B A x and the norms it was divided by.
        let direction: [Float]
        let norms: [Float]
    }

    /// How many components the next forward pass uses: a PDRS prefix draw while training, all
    /// of them otherwise.
    public func activeRank(training: Bool, generator: inout some RandomNumberGenerator) -> Int {
        guard training, let shrinker else { return rank }
        return shrinker.sampleActiveRank(using: &generator)
    }

    /// y (rows x outputs) from z = W x0 (rows x outputs, frozen product without bias), the
    /// module's input x (rows x inputs), the frozen bias, and the frozen weight (DoRA's norms).
    public func forward(frozenProduct z: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int,
                        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, active: Int,
                        output y: UnsafeMutablePointer<Float>) -> Pass {
        let effectiveScale = scale * (shrinker?.prefixScale(active: active) ?? 1)
        var hidden = [Float](repeating: 0, count: rows * active)
        switch kind {
        case .lora:
            for k in 0..<(rows * outputs) { y[k] = z[k] + (bias?[k % outputs] ?? 0) }
            factors.forward(input: x, rows: rows, active: active, scale: effectiveScale,
                            hidden: &hidden, output: y, accumulate: true)
            return Pass(rows: rows, active: active, hidden: hidden, direction: [], norms: [])
        case .dora:
            var direction = Array(UnsafeBufferPointer(start: z, count: rows * outputs))
            factors.forward(input: x, rows: rows, active: active, scale: effectiveScale,
                            hidden: &hidden, output: &direction, accumulate: true)
            let norms = WeightDecomposition.rowNorms(weight: weight, factors: factors, active: active, scale: effectiveScale)
            WeightDecomposition.forward(direction: direction, rows: rows, outputs: outputs,
                                        magnitude: magnitude, norms: norms, bias: bias, output: y)
            return Pass(rows: rows, active: active, hidden: hidden, direction: direction, norms: norms)
        }
    }

    /// From dL/dy, accumulates the module's gradients; writes dL/dz (rows x outputs, for the
    /// frozen path to turn into dL/dx0) and adds dL/dx into `inputGradient` when given.
    public func backward(_ pass: Pass, input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                         frozenProductGradient dz: UnsafeMutablePointer<Float>,
                         inputGradient dx: UnsafeMutablePointer<Float>?) {
        let rows = pass.rows
        switch kind {
        case .lora:
            dz.update(from: dy, count: rows * outputs)
        case .dora:
            WeightDecomposition.backward(direction: pass.direction, rows: rows, outputs: outputs,
                                         magnitude: magnitude, norms: pass.norms, outputGradient: dy,
                                         magnitudeGradient: &magnitudeGradient, directionGradient: dz)
        }
        var scratch = [Float](repeating: 0, count: rows * pass.active)
        let effectiveScale = scale * (shrinker?.prefixScale(active: pass.active) ?? 1)
        factors.backward(input: x, rows: rows, active: pass.active, scale: effectiveScale,
                         hidden: pass.hidden, outputGradient: dz, gradient: &gradient,
                         inputGradient: dx, scratch: &scratch)
    }

    // MARK: PDRS

    /// Folds this step's gradients of the active prefix into the importance EMA (call after the
    /// backward pass, before the optimizer step).
    public func recordImportance(active: Int) {
        guard shrinker != nil else { return }
        let scores = RankShrinker.componentScores(
            a: factors.a, gradA: gradient.a, b: factors.b, gradB: gradient.b,
            inputs: inputs, outputs: outputs, rank: rank, active: active)
        shrinker!.accumulate(activeScores: scores)
    }

    /// The epoch-end coverage step: erases the uncovered components from the factors and their
    /// gradients for good. Optimizer state for the factors must be cut the same way (`kept`).
    @discardableResult
    public func shrinkRank() -> RankShrink? {
        guard shrinker != nil else { return nil }
        let shrink = shrinker!.shrink()
        factors = factors.keeping(components: shrink.kept)
        gradient = gradient.keeping(components: shrink.kept)
        return shrink
    }
}
