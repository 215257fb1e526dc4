import Tensors
import Testing
@testable import Engine

@Suite struct AdapterTests {
    let inputs = 5, outputs = 4, rank = 3, rows = 6

    /// A module with B no longer 0 (as after some training), so every gradient path is exercised.
    func trainedLayer(_ kind: LowRankKind, scale: Float = 0.7, shrinking: RankShrinker.Options? = nil,
                      _ generator: inout SeededRandom) -> AdaptedLinear {
        let base = frozenLinear(inputs: inputs, outputs: outputs, &generator)
        let module = kind.module(name: "layer", inputs: inputs, outputs: outputs, rank: rank, scale: scale,
                                 weight: UnsafeBufferPointer(base.weight.values), shrinking: shrinking, seed: 1)
        var factors = module.branch.factors
        factors.b = generator.floats(outputs * rank)
        module.branch.setParameters(factors: factors)
        if let dora = module as? DoRAModule {
            dora.setMagnitude(dora.magnitude.map { $0 * Float(generator.uniform(0.5...1.5)) })
        }
        return AdaptedLinear(base: base, module: module)
    }

    /// DoRA's magnitude m (none for LoRA).
    func magnitude(_ module: any LowRankModule) -> [Float] { (module as? DoRAModule)?.magnitude ?? [] }

    /// The layer's output for the given parameters, with DoRA's norms held at `norms` (the
    /// detached norm: finite differences must not see it move).
    func reference(_ layer: AdaptedLinear, x: [Float], factors: LowRankFactors, magnitude: [Float],
                   norms: [Float]?, active: Int) -> [Float] {
        let bias = Array(layer.base.bias!.values)
        var direction = layer.base.forward(Matrix(rows: rows, columns: inputs, values: x), ForwardContext(training: false)).0.values
        for k in direction.indices { direction[k] -= bias[k % outputs] }
        var hidden = [Float](repeating: 0, count: rows * active)
        factors.forward(input: x, rows: rows, active: active, scale: layer.module.branch.scale, hidden: &hidden,
                        output: &direction, accumulate: true)
        guard let norms else { return direction.indices.map { direction[$0] + bias[$0 % outputs] } }
        var y = [Float](repeating: 0, count: rows * outputs)
        WeightDecomposition.forward(direction: direction, rows: rows, outputs: outputs, magnitude: magnitude,
                                    norms: norms, bias: bias, output: &y)
        return y
    }

    /// PDRS with rho = 1 keeps every component and lets a test fix the active prefix by its draws.
    @Test(arguments: [(LowRankKind.lora, false), (.lora, true), (.dora, false), (.dora, true)])
    func gradientsMatchFiniteDifferences(kind: LowRankKind, prefixMasking: Bool) {
        var generator = SeededRandom(seed: 21)
        let layer = trainedLayer(kind, shrinking: prefixMasking ? .init(coverage: 1) : nil, &generator)
        let module = layer.module
        let x = generator.floats(rows * inputs)
        let lossWeights = generator.floats(rows * outputs)

        let (y, pullback) = layer.forward(Matrix(rows: rows, columns: inputs, values: x), ForwardContext(training: true))
        let active = module.branch.lastActive
        #expect(prefixMasking || active == rank)
        let norms: [Float]? = kind == .dora
            ? WeightDecomposition.rowNorms(weight: layer.base.weight.values.baseAddress!, factors: module.branch.factors,
                                           active: active, scale: module.branch.scale)
            : nil
        let (a, b, m) = (module.branch.factors.a, module.branch.factors.b, magnitude(module))
        let base = reference(layer, x: x, factors: module.branch.factors, magnitude: m, norms: norms, active: active)
        #expect(zip(y.values, base).allSatisfy { abs($0 - $1) < 1e-5 }, "forward differs from the reference")

        for parameter in module.parameters { parameter.zeroGradient() }
        let dx = pullback(Matrix(rows: rows, columns: outputs, values: lossWeights)).values
        func loss(a: [Float] = a, b: [Float] = b, m: [Float] = m, x: [Float] = x) -> Double {
            let factors = LowRankFactors(inputs: inputs, outputs: outputs, rank: rank, a: a, b: b)
            return weightedSum(reference(layer, x: x, factors: factors, magnitude: m, norms: norms, active: active), lossWeights)
        }
        expectGradientsMatch(module.branch.gradient.a, numericGradient(a) { loss(a: $0) }, "dL/dA")
        expectGradientsMatch(module.branch.gradient.b, numericGradient(b) { loss(b: $0) }, "dL/dB")
        expectGradientsMatch(dx, numericGradient(x) { loss(x: $0) }, "dL/dx")
        if kind == .dora {
            let magnitudeGradient = Array((module as! DoRAModule).weightMagnitude.gradient!)
            expectGradientsMatch(magnitudeGradient, numericGradient(m) { loss(m: $0) }, "dL/dm")
        }
        // Components outside the active prefix get no gradient; the frozen layer gets none at all.
        #expect(module.branch.gradient.a[(active * inputs)...].allSatisfy { $0 == 0 })
        #expect((0..<outputs).allSatisfy { o in (active..<rank).allSatisfy { module.branch.gradient.b[o * rank + $0] == 0 } })
        #expect(layer.base.weight.gradient == nil)
    }

    @Test(arguments: LowRankKind.allCases)
    func adapterEqualsTheFrozenLayerAtInitialisation(kind: LowRankKind) {
        var generator = SeededRandom(seed: 4)
        let base = frozenLinear(inputs: inputs, outputs: outputs, &generator)
        let module = kind.module(name: "layer", inputs: inputs, outputs: outputs, rank: rank, scale: 4,
                                 weight: UnsafeBufferPointer(base.weight.values), seed: 2)
        let layer = AdaptedLinear(base: base, module: module)
        let x = Matrix(rows: rows, columns: inputs, values: generator.floats(rows * inputs))
        let (y, _) = layer.forward(x, ForwardContext(training: true))
        let (frozen, _) = base.forward(x, ForwardContext(training: false))
        #expect(zip(y.values, frozen.values).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(module.branch.factors.b.allSatisfy { $0 == 0 })
        #expect(module.branch.factors.a.allSatisfy { abs($0) <= 1 / Float(inputs).squareRoot() })
        #expect(Set(module.branch.factors.a).count == rank * inputs)
        #expect(layer.parameters.filter(\.isTrainable).map(\.name)
                == ["layer.lora_A", "layer.lora_B"] + (kind == .dora ? ["layer.lora_magnitude"] : []))
    }

    @Test func doraMagnitudeStartsAtTheRowNormsOfW() {
        var generator = SeededRandom(seed: 8)
        let base = frozenLinear(inputs: inputs, outputs: outputs, &generator)
        let module = LowRankKind.dora.module(name: "layer", inputs: inputs, outputs: outputs, rank: rank, scale: 1,
                                             weight: UnsafeBufferPointer(base.weight.values), seed: 3)
        for o in 0..<outputs {
            let norm = (0..<inputs).map { base.weight.values[o * inputs + $0] }.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(magnitude(module)[o] - norm) < 1e-5)
        }
        #expect(module.parameterCount == rank * (inputs + outputs) + outputs)
    }

    @Test func doraNormsAreRowNormsOfTheAdaptedWeight() {
        var generator = SeededRandom(seed: 9)
        let layer = trainedLayer(.dora, &generator)
        let (w, factors) = (layer.base.weight.values, layer.module.branch.factors)
        let norms = WeightDecomposition.rowNorms(weight: w.baseAddress!, factors: factors, active: 2, scale: 0.7)
        for o in 0..<outputs {
            var sum: Float = 0
            for i in 0..<inputs {
                var value = w[o * inputs + i]
                for c in 0..<2 { value += 0.7 * factors.b[o * rank + c] * factors.a[c * inputs + i] }
                sum += value * value
            }
            #expect(abs(norms[o] - sum.squareRoot()) < 1e-5)
        }
    }

    @Test func scaleConventions() {
        #expect(MethodOptions.Scale.alphaOverRank(alpha: 32).factor(rank: 16) == 2)
        #expect(MethodOptions.Scale.raw(4).factor(rank: 16) == 4)
        #expect(MethodOptions.Scale.raw(4).factor(rank: 64) == 4)
    }

    @Test func prefixDrawsStayInRangeAndEvaluationUsesEveryComponent() {
        var generator = SeededRandom(seed: 10)
        let layer = trainedLayer(.lora, shrinking: .init(coverage: 0.9), &generator)
        let seen = Set((0..<200).map { _ in layer.module.branch.activeRank(training: true) })
        #expect(seen == Set(1...rank))
        #expect(layer.module.branch.activeRank(training: false) == rank)
        #expect(layer.module.branch.draws == 200)
    }

    @Test func importanceAfterBackwardScoresTheComponentsUsed() {
        var generator = SeededRandom(seed: 12)
        let layer = trainedLayer(.lora, shrinking: .init(decay: 0.9, coverage: 0.9), &generator)
        let module = layer.module
        let (_, pullback) = layer.forward(Matrix(rows: rows, columns: inputs, values: generator.floats(rows * inputs)),
                                          ForwardContext(training: true))
        _ = pullback(Matrix(rows: rows, columns: outputs, values: generator.floats(rows * outputs)))
        let active = module.branch.lastActive
        let expected = RankShrinker.componentScores(a: module.branch.factors.a, gradA: module.branch.gradient.a, b: module.branch.factors.b,
                                                    gradB: module.branch.gradient.b, inputs: inputs, outputs: outputs,
                                                    rank: rank, active: active)
        module.branch.recordImportance()
        // The stored EMA starts at 0 (the coverage rule then divides by 1 - beta^n).
        expectClose(module.branch.shrinker!.importance, (0..<rank).map { $0 < active ? 0.1 * expected[$0] : 0 })
        #expect(expected.allSatisfy { $0 > 0 })
    }

    /// LoRA dropout: the low-rank branch reads the input through a mask the noise key fixes, so
    /// the same key gives the same output (finite differences see one function), another step
    /// another mask, and evaluation nothing dropped.
    @Test(arguments: LowRankKind.allCases)
    func dropoutMasksTheBranchInputAndItsGradients(kind: LowRankKind) {
        var generator = SeededRandom(seed: 19)
        let base = frozenLinear(inputs: inputs, outputs: outputs, &generator)
        let module = kind.module(name: "layer", inputs: inputs, outputs: outputs, rank: rank, scale: 0.7,
                                 weight: UnsafeBufferPointer(base.weight.values), dropout: 0.4, seed: 1)
        var factors = module.branch.factors
        factors.b = generator.floats(outputs * rank)
        module.branch.setParameters(factors: factors)
        let layer = AdaptedLinear(base: base, module: module)
        let x = generator.floats(rows * inputs), weights = generator.floats(rows * outputs)
        let context = ForwardContext(training: true, noise: NoiseKey(seed: 2, step: 3))
        func output(_ values: [Float], _ context: ForwardContext) -> [Float] {
            layer.forward(Matrix(rows: rows, columns: inputs, values: values), context).0.values
        }
        var later = context
        later.noise!.step += 1
        let evaluated = output(x, ForwardContext(training: false))
        #expect(output(x, context) == output(x, context) && output(x, context) != evaluated)
        #expect(output(x, later) != output(x, context))
        #expect(output(x, ForwardContext(training: true)) == evaluated)

        for parameter in module.parameters { parameter.zeroGradient() }
        let (_, pullback) = layer.forward(Matrix(rows: rows, columns: inputs, values: x), context)
        let dx = pullback(Matrix(rows: rows, columns: outputs, values: weights))
        expectGradientsMatch(dx.values, numericGradient(x) { weightedSum(output($0, context), weights) }, "dL/dx")
        if kind == .lora {
            let numeric = numericGradientOfA(module) { weightedSum(output(x, context), weights) }
            expectGradientsMatch(module.branch.gradient.a, numeric, "dL/dA")
        }
    }

    /// The dropout mask fills its rows side by side: split three ways it is the mask of one thread.
    @Test func dropoutMasksAreTheSameAtAnyThreadCount() {
        var generator = SeededRandom(seed: 23)
        let base = frozenLinear(inputs: 4, outputs: 2, &generator)
        let module = LowRankKind.lora.module(name: "layer", inputs: 4, outputs: 2, rank: 2, scale: 1, weight: nil,
                                             dropout: 0.5, seed: 1)
        var factors = module.branch.factors
        factors.b = generator.floats(2 * 2)
        module.branch.setParameters(factors: factors)
        let layer = AdaptedLinear(base: base, module: module)
        let x = Matrix(rows: 10_000, columns: 4, values: generator.floats(40_000))
        let context = ForwardContext(training: true, noise: NoiseKey(seed: 8, step: 1))
        let serial = ComputeThreads.$chunksInThisTask.withValue(1) { layer.forward(x, context).0.values }
        let split = ComputeThreads.$chunksInThisTask.withValue(3) { layer.forward(x, context).0.values }
        #expect(serial == split)
    }

    /// DoRA's norms of W + sBA are computed once per pass for all of its images: counted per
    /// image, a batch of 4 carries a quarter of them each (a counter run on the batch, divided by 4).
    @Test func doraNormsCountOncePerPassSharedByItsImages() {
        var generator = SeededRandom(seed: 17)
        let layer = trainedLayer(.dora, &generator)
        let x = Matrix(rows: rows, columns: inputs, values: generator.floats(rows * inputs))
        func macs(imagesPerPass: Int) -> Int {
            let counter = MACCounter()
            _ = layer.forward(x, ForwardContext(training: false, macs: counter, imagesPerPass: imagesPerPass))
            return counter.total
        }
        let norms = outputs * inputs * (rank + 1)
        #expect(layer.module.perPassMultiplyAccumulates == norms)
        #expect(macs(imagesPerPass: 1) - macs(imagesPerPass: 4) == norms - norms / 4)
        #expect(trainedLayer(.lora, &generator).module.perPassMultiplyAccumulates == 0)
    }

    @Test(arguments: LowRankKind.allCases)
    func shrinkingErasesComponentsFromTheComputation(kind: LowRankKind) {
        var generator = SeededRandom(seed: 13)
        // rho = 0.5 of 3 components always erases at least one: the top two cover 2/3 or more.
        let layer = trainedLayer(kind, shrinking: .init(coverage: 0.5, emaStart: .firstObservation), &generator)
        let module = layer.module
        let x = Matrix(rows: rows, columns: inputs, values: generator.floats(rows * inputs))
        // Evaluation-mode passes use every component, so every component gets a score.
        let (_, pullback) = layer.forward(x, ForwardContext(training: false))
        _ = pullback(Matrix(rows: rows, columns: outputs, values: generator.floats(rows * outputs)))
        module.branch.recordImportance()

        let before = module.branch.factors
        let parametersBefore = module.parameterCount
        let macsBefore = module.multiplyAccumulates(tokens: 100) + module.perPassMultiplyAccumulates
        let covering = module.branch.shrinker!.coveringComponents()
        let shrink = module.branch.shrinkRank()!
        #expect(shrink.kept == covering)
        let k = covering.count
        #expect(k < rank && module.rank == k && module.branch.shrinker!.rank == k)
        #expect(module.parameterCount == parametersBefore - (rank - k) * (inputs + outputs))
        // Each erased component saves inputs + outputs MACs per token (DoRA: and one W-sized pass per forward).
        let saved = (rank - k) * (100 * (inputs + outputs) + (kind == .dora ? inputs * outputs : 0))
        #expect(module.multiplyAccumulates(tokens: 100) + module.perPassMultiplyAccumulates == macsBefore - saved)

        // The shrunk layer computes exactly the kept components of the old one, and only they learn.
        for parameter in module.parameters { parameter.zeroGradient() }
        let (y, shrunkPullback) = layer.forward(x, ForwardContext(training: false))
        let kept = before.keeping(components: covering)
        let norms = kind == .dora
            ? WeightDecomposition.rowNorms(weight: layer.base.weight.values.baseAddress!, factors: kept, active: k, scale: module.branch.scale)
            : nil
        let expected = reference(layer, x: x.values, factors: kept, magnitude: magnitude(module), norms: norms, active: k)
        #expect(zip(y.values, expected).allSatisfy { abs($0 - $1) < 1e-5 })
        _ = shrunkPullback(Matrix(rows: rows, columns: outputs, values: generator.floats(rows * outputs)))
        let erased = Set(0..<rank).subtracting(covering)
        for c in erased {
            #expect((0..<inputs).allSatisfy { module.branch.weightA.gradient![c * inputs + $0] == 0 })
            #expect((0..<outputs).allSatisfy { module.branch.weightB.gradient![$0 * rank + c] == 0 })
        }
        #expect(covering.contains { c in (0..<inputs).contains { module.branch.weightA.gradient![c * inputs + $0] != 0 } })
    }

    @Test func shrinkingStateRoundTrips() {
        var generator = SeededRandom(seed: 14)
        let layer = trainedLayer(.lora, shrinking: .init(coverage: 0.5, emaStart: .firstObservation), &generator)
        let module = layer.module
        let (_, pullback) = layer.forward(Matrix(rows: rows, columns: inputs, values: generator.floats(rows * inputs)),
                                          ForwardContext(training: false))
        _ = pullback(Matrix(rows: rows, columns: outputs, values: generator.floats(rows * outputs)))
        module.branch.recordImportance()
        module.branch.shrinkRank()
        for _ in 0..<7 { _ = module.branch.activeRank(training: true) }
        let state = module.branch.shrinkingState!
        let fresh = trainedLayer(.lora, shrinking: .init(coverage: 0.5, emaStart: .firstObservation), &generator).module
        fresh.branch.restoreShrinking(live: state.live, importance: state.importance, observations: state.observations,
                               draws: state.draws)
        #expect(fresh.branch.live == module.branch.live && fresh.rank == module.rank && fresh.branch.draws == module.branch.draws)
        // Draws continue as the uninterrupted module's would.
        #expect((0..<20).map { _ in fresh.branch.activeRank(training: true) } == (0..<20).map { _ in module.branch.activeRank(training: true) })
        #expect(fresh.branch.shrinker == module.branch.shrinker)
    }
}
