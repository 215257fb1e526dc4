import Testing
@testable import Engine

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

func expectGradientsMatch(_ analytic: [Float], _ numeric: [Float], _ what: String,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(analytic.count == numeric.count, sourceLocation: sourceLocation)
    let scale = max(1, numeric.map { abs($0) }.max() ?? 0)
    let worst = zip(analytic, numeric).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= 2e-3 * scale, "\(what): worst difference \(worst) at scale \(scale)", sourceLocation: sourceLocation)
}

/// L = sum of y * weights in Double: a loss whose dL/dy is `weights`.
func weightedSum(_ y: [Float], _ weights: [Float]) -> Double {
    zip(y, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

@Suite struct AdapterTests {
    let inputs = 5, outputs = 4, rank = 3, rows = 6

    func frozenLayer(_ generator: inout SeededGenerator) -> FrozenLinear {
        FrozenLinear(inputs: inputs, outputs: outputs, weight: generator.floats(inputs * outputs),
                     bias: generator.floats(outputs))
    }

    /// A module with B no longer 0 (as after some training), so every gradient path is exercised.
    func trainedModule(_ kind: LowRankModule.Kind, frozen: FrozenLinear, scale: Float = 0.7,
                       shrinking: RankShrinker.Options? = nil, _ generator: inout SeededGenerator) -> LowRankModule {
        let module = LowRankModule(kind: kind, inputs: inputs, outputs: outputs, rank: rank, scale: scale,
                                   weight: frozen.weight, shrinking: shrinking, generator: &generator)
        var factors = module.factors
        factors.b = generator.floats(outputs * rank)
        module.setParameters(factors: factors,
                             magnitude: kind == .dora ? module.magnitude.map { $0 * Float(generator.uniform(0.5...1.5)) } : nil)
        return module
    }

    /// The layer's output with the given parameters and, for DoRA, the norms held at `norms`
    /// (the detached norm: finite differences must not see it move).
    func reference(_ layer: AdaptedLinear, x: [Float], factors: LowRankFactors, magnitude: [Float],
                   norms: [Float]?, active: Int) -> [Float] {
        let module = layer.module
        var direction = layer.frozen.product(x, rows: rows)
        var hidden = [Float](repeating: 0, count: rows * active)
        factors.forward(input: x, rows: rows, active: active, scale: module.scale, hidden: &hidden,
                        output: &direction, accumulate: true)
        guard let norms else {
            return direction.indices.map { direction[$0] + layer.frozen.bias![$0 % outputs] }
        }
        var y = [Float](repeating: 0, count: rows * outputs)
        WeightDecomposition.forward(direction: direction, rows: rows, outputs: outputs, magnitude: magnitude,
                                    norms: norms, bias: layer.frozen.bias, output: &y)
        return y
    }

    @Test(arguments: [(LowRankModule.Kind.lora, 3), (.lora, 2), (.dora, 3), (.dora, 1)])
    func gradientsMatchFiniteDifferences(kind: LowRankModule.Kind, active: Int) {
        var generator = SeededGenerator(seed: 21)
        let frozen = frozenLayer(&generator)
        let layer = AdaptedLinear(frozen: frozen, module: trainedModule(kind, frozen: frozen, &generator))
        let module = layer.module
        let x = generator.floats(rows * inputs)
        let lossWeights = generator.floats(rows * outputs)

        let (y, pass) = layer.forward(x, rows: rows, active: active)
        let norms: [Float]? = kind == .dora
            ? WeightDecomposition.rowNorms(weight: frozen.weight, factors: module.factors, active: active, scale: module.scale)
            : nil
        let base = reference(layer, x: x, factors: module.factors, magnitude: module.magnitude,
                             norms: norms, active: active)
        #expect(zip(y, base).allSatisfy { abs($0 - $1) < 1e-5 }, "forward differs from the reference")

        module.zeroGradients()
        let dx = layer.backward(pass, input: x, outputGradient: lossWeights)
        let (a, b, m) = (module.factors.a, module.factors.b, module.magnitude)
        func loss(a: [Float] = a, b: [Float] = b, m: [Float] = m, x: [Float] = x) -> Double {
            let factors = LowRankFactors(inputs: inputs, outputs: outputs, rank: rank, a: a, b: b)
            return weightedSum(reference(layer, x: x, factors: factors, magnitude: m, norms: norms, active: active), lossWeights)
        }
        expectGradientsMatch(module.gradient.a, numericGradient(a) { loss(a: $0) }, "dL/dA")
        expectGradientsMatch(module.gradient.b, numericGradient(b) { loss(b: $0) }, "dL/dB")
        expectGradientsMatch(dx, numericGradient(x) { loss(x: $0) }, "dL/dx")
        if kind == .dora {
            expectGradientsMatch(module.magnitudeGradient, numericGradient(m) { loss(m: $0) }, "dL/dm")
        }
        // Components outside the active prefix get no gradient.
        #expect(module.gradient.a[(active * inputs)...].allSatisfy { $0 == 0 })
        #expect((0..<outputs).allSatisfy { o in (active..<rank).allSatisfy { module.gradient.b[o * rank + $0] == 0 } })
    }

    @Test(arguments: LowRankModule.Kind.allCases)
    func adapterEqualsTheFrozenLayerAtInitialisation(kind: LowRankModule.Kind) {
        var generator = SeededGenerator(seed: 4)
        let frozen = frozenLayer(&generator)
        let module = LowRankModule(kind: kind, inputs: inputs, outputs: outputs, rank: rank, scale: 4,
                                   weight: frozen.weight, generator: &generator)
        let x = generator.floats(rows * inputs)
        let (y, _) = AdaptedLinear(frozen: frozen, module: module).forward(x, rows: rows, active: rank)
        let z = frozen.product(x, rows: rows)
        for k in y.indices { #expect(abs(y[k] - (z[k] + frozen.bias![k % outputs])) < 1e-5) }
        #expect(module.factors.b.allSatisfy { $0 == 0 })
        #expect(module.factors.a.allSatisfy { abs($0) <= 1 / Float(inputs).squareRoot() })
        #expect(module.factors.a.contains { $0 != 0 })
    }

    @Test func doraMagnitudeStartsAtTheRowNormsOfW() {
        var generator = SeededGenerator(seed: 8)
        let frozen = frozenLayer(&generator)
        let module = LowRankModule(kind: .dora, inputs: inputs, outputs: outputs, rank: rank, scale: 1,
                                   weight: frozen.weight, generator: &generator)
        for o in 0..<outputs {
            let norm = (0..<inputs).map { frozen.weight[o * inputs + $0] }.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(module.magnitude[o] - norm) < 1e-5)
        }
        #expect(module.parameterCount == rank * (inputs + outputs) + outputs)
    }

    @Test func doraNormsAreRowNormsOfTheAdaptedWeight() {
        var generator = SeededGenerator(seed: 9)
        let frozen = frozenLayer(&generator)
        let module = trainedModule(.dora, frozen: frozen, &generator)
        let norms = WeightDecomposition.rowNorms(weight: frozen.weight, factors: module.factors, active: 2, scale: 0.7)
        for o in 0..<outputs {
            var sum: Float = 0
            for i in 0..<inputs {
                var w = frozen.weight[o * inputs + i]
                for c in 0..<2 { w += 0.7 * module.factors.b[o * rank + c] * module.factors.a[c * inputs + i] }
                sum += w * w
            }
            #expect(abs(norms[o] - sum.squareRoot()) < 1e-5)
        }
    }

    @Test func scaleConventions() {
        #expect(MethodOptions.Scale.alphaOverRank(alpha: 32).factor(rank: 16) == 2)
        #expect(MethodOptions.Scale.raw(4).factor(rank: 16) == 4)
        #expect(MethodOptions.Scale.raw(4).factor(rank: 64) == 4)
    }

    @Test func importanceAfterBackwardScoresTheActivePrefix() {
        var generator = SeededGenerator(seed: 12)
        let frozen = frozenLayer(&generator)
        let module = trainedModule(.lora, frozen: frozen, shrinking: .init(decay: 0.9, coverage: 0.9), &generator)
        let layer = AdaptedLinear(frozen: frozen, module: module)
        let x = generator.floats(rows * inputs)
        let (_, pass) = layer.forward(x, rows: rows, active: 2)
        _ = layer.backward(pass, input: x, outputGradient: generator.floats(rows * outputs))
        let expected = RankShrinker.componentScores(a: module.factors.a, gradA: module.gradient.a, b: module.factors.b,
                                                    gradB: module.gradient.b, inputs: inputs, outputs: outputs,
                                                    rank: rank, active: 2)
        module.recordImportance(active: 2)
        expectClose(module.shrinker!.importance, [0.1 * expected[0], 0.1 * expected[1], 0])
        #expect(expected.allSatisfy { $0 > 0 })
    }

    @Test(arguments: LowRankModule.Kind.allCases)
    func shrinkingErasesComponentsFromTheComputation(kind: LowRankModule.Kind) {
        var generator = SeededGenerator(seed: 13)
        let frozen = frozenLayer(&generator)
        // rho = 0.5 of 3 components always erases at least one: the top two cover 2/3 or more.
        let module = trainedModule(kind, frozen: frozen, shrinking: .init(coverage: 0.5, emaStart: .firstObservation), &generator)
        let layer = AdaptedLinear(frozen: frozen, module: module)
        let x = generator.floats(rows * inputs)
        let (_, pass) = layer.forward(x, rows: rows, active: rank)
        _ = layer.backward(pass, input: x, outputGradient: generator.floats(rows * outputs))
        module.recordImportance(active: rank)

        let before = module.factors
        let parametersBefore = module.parameterCount
        let macsBefore = module.multiplyAccumulates(tokens: 100)
        let covering = module.shrinker!.coveringComponents()
        let shrink = module.shrinkRank()!
        #expect(shrink.kept == covering)
        let k = covering.count
        #expect(k < rank && module.rank == k && module.shrinker!.rank == k)
        #expect(module.parameterCount == parametersBefore - (rank - k) * (inputs + outputs))
        #expect(module.factors.multiplyAccumulates(tokens: rows) == rows * k * (inputs + outputs))
        #expect(module.gradient.rank == k)
        // Each erased component saves inputs + outputs MACs per token (DoRA: and one W-sized pass per forward).
        let saved = (rank - k) * (100 * (inputs + outputs) + (kind == .dora ? inputs * outputs : 0))
        #expect(module.multiplyAccumulates(tokens: 100) == macsBefore - saved)

        // The shrunk layer computes exactly the kept components of the old one.
        let (y, _) = layer.forward(x, rows: rows, active: k)
        let kept = before.keeping(components: covering)
        let norms = kind == .dora
            ? WeightDecomposition.rowNorms(weight: frozen.weight, factors: kept, active: k, scale: module.scale) : nil
        let expected = reference(layer, x: x, factors: kept, magnitude: module.magnitude, norms: norms, active: k)
        for j in y.indices { #expect(abs(y[j] - expected[j]) < 1e-5) }
    }
}
