import Testing
import Tensors
@testable import Engine

@Suite struct SpectralDecoderTests {
    @Test(arguments: [(4, 6), (5, 5), (3, 8)])
    func spectraRoundTrip(height: Int, width: Int) {
        var generator = SeededRandom(seed: 41)
        let spectra = ChannelSpectra(height: height, width: width)
        let x = generator.floats(3 * height * width)
        var spectrum = spectra.forward(x, channels: 3)
        // DC of channel 0 is the sum of its values.
        let sum = x[0..<(height * width)].reduce(0, +)
        #expect(abs(spectrum[0] - sum) < 1e-4 && abs(spectrum[1]) < 1e-5)
        var back = [Float](repeating: 0, count: x.count)
        spectra.inverse(&spectrum, channels: 3, into: &back)
        #expect(zip(x, back).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func spectralFilterIsTheIdentityAtInitialisation() {
        var generator = SeededRandom(seed: 42)
        let filter = SpectralFilter(name: "f", channels: 3, height: 4, width: 6)
        let x = generator.floats(2 * 3 * 4 * 6)
        let (y, _) = filter.forward(x, images: 2)
        #expect(zip(x, y).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(filter.parameterCount == 3 * 4 * 4 + 3 + 3)
    }

    @Test func aFilterKeepingOnlyDCAveragesEachChannel() {
        var generator = SeededRandom(seed: 43)
        let filter = SpectralFilter(name: "f", channels: 2, height: 4, width: 4)
        let size = 4 * 3
        let dcOnly = (0..<(2 * size)).map { $0 % size == 0 ? Float(1) : 0 }
        filter.setParameters(filter: dcOnly, gamma: [2, 1], beta: [0, 0.5])
        let x = generator.floats(2 * 16)
        let (y, _) = filter.forward(x, images: 1)
        for c in 0..<2 {
            let mean = x[(c * 16)..<((c + 1) * 16)].reduce(0, +) / 16
            let expected = c == 0 ? 2 * mean : mean + 0.5
            #expect((c * 16..<(c + 1) * 16).allSatisfy { abs(y[$0] - expected) < 1e-5 })
        }
    }

    @Test(arguments: [(4, 6), (5, 5), (3, 4)])
    func spectralFilterGradientsMatchFiniteDifferences(height: Int, width: Int) {
        var generator = SeededRandom(seed: 44)
        let channels = 2, images = 2
        let layer = SpectralFilter(name: "f", channels: channels, height: height, width: width)
        let filterValues = generator.floats(layer.filter.count, in: 0.2...1.8)
        let gamma = generator.floats(channels, in: 0.5...1.5), beta = generator.floats(channels)
        layer.setParameters(filter: filterValues, gamma: gamma, beta: beta)
        let x = generator.floats(images * channels * height * width)
        let weights = generator.floats(x.count)
        let (_, pass) = layer.forward(x, images: images)
        layer.zeroGradients()
        let dx = layer.backward(pass, outputGradient: weights)

        func loss(x: [Float] = x, filter: [Float] = filterValues, gamma: [Float] = gamma, beta: [Float] = beta) -> Double {
            let probe = SpectralFilter(name: "f", channels: channels, height: height, width: width)
            probe.setParameters(filter: filter, gamma: gamma, beta: beta)
            return weightedSum(probe.forward(x, images: images).output, weights)
        }
        expectGradientsMatch(dx, numericGradient(x) { loss(x: $0) }, "dL/dX")
        expectGradientsMatch(layer.filterGradient, numericGradient(filterValues) { loss(filter: $0) }, "dL/dfilter")
        expectGradientsMatch(layer.gammaGradient, numericGradient(gamma) { loss(gamma: $0) }, "dL/dgamma")
        expectGradientsMatch(layer.betaGradient, numericGradient(beta) { loss(beta: $0) }, "dL/dbeta")
    }

    @Test func consensusDoesNothingWhileItsWeightsAreZero() {
        var generator = SeededRandom(seed: 45)
        let consensus = CrossTaskConsensus(name: "x", channels: 2, height: 4, width: 4)
        let main = generator.floats(2 * 2 * 16)
        let others = [generator.floats(main.count), generator.floats(main.count)]
        let (y, pass) = consensus.forward(main: main, others: others, images: 2)
        #expect(y == main)
        // ... but it still learns: the weights get gradients.
        _ = consensus.backward(pass, outputGradient: generator.floats(main.count))
        #expect(consensus.alphaLowGradient != 0 && consensus.alphaHighGradient != 0)
    }

    @Test func masksSplitTheSpectrumByRadius() {
        let consensus = CrossTaskConsensus(name: "x", channels: 1, height: 8, width: 8)
        let spectra = consensus.spectra
        #expect(consensus.lowMask[0] == 1 && consensus.highMask[0] == 0)                 // DC is low
        let corner = 4 * spectra.halfWidth + 4                                            // (ky, kx) = (H/2, W/2)
        #expect(consensus.lowMask[corner] == 0 && consensus.highMask[corner] == 1)
        #expect(zip(consensus.lowMask, consensus.highMask).allSatisfy { $0 * $1 == 0 })   // disjoint
        // With both weights 1 and no middle band, the main task becomes the others' mean.
        let full = CrossTaskConsensus(name: "x", channels: 1, height: 8, width: 8, lowCutoff: 0.5, highCutoff: 0.5)
        full.setParameters(alphaLow: 1, alphaHigh: 1)
        var generator = SeededRandom(seed: 46)
        let main = generator.floats(64), a = generator.floats(64), b = generator.floats(64)
        let (y, _) = full.forward(main: main, others: [a, b], images: 1)
        #expect((0..<64).allSatisfy { abs(y[$0] - (a[$0] + b[$0]) / 2) < 1e-5 })
    }

    @Test func consensusGradientsMatchFiniteDifferences() {
        var generator = SeededRandom(seed: 47)
        let (channels, height, width, images) = (2, 6, 5, 2)
        let layer = CrossTaskConsensus(name: "x", channels: channels, height: height, width: width, lowCutoff: 0.3, highCutoff: 0.45)
        layer.setParameters(alphaLow: 0.7, alphaHigh: -0.4)
        let count = images * channels * height * width
        let main = generator.floats(count)
        let others = [generator.floats(count), generator.floats(count), generator.floats(count)]
        let weights = generator.floats(count)
        let (_, pass) = layer.forward(main: main, others: others, images: images)
        let grads = layer.backward(pass, outputGradient: weights)

        func loss(main: [Float] = main, others: [[Float]] = others, alphas: [Float] = [0.7, -0.4]) -> Double {
            let probe = CrossTaskConsensus(name: "x", channels: channels, height: height, width: width, lowCutoff: 0.3, highCutoff: 0.45)
            probe.setParameters(alphaLow: alphas[0], alphaHigh: alphas[1])
            return weightedSum(probe.forward(main: main, others: others, images: images).output, weights)
        }
        expectGradientsMatch(grads.main, numericGradient(main) { loss(main: $0) }, "dL/dmain")
        for u in others.indices {
            let numeric = numericGradient(others[u]) { v in
                var changed = others
                changed[u] = v
                return loss(others: changed)
            }
            expectGradientsMatch(grads.others[u], numeric, "dL/dother\(u)")
        }
        expectGradientsMatch([layer.alphaLowGradient, layer.alphaHighGradient],
                             numericGradient([0.7, -0.4]) { loss(alphas: $0) }, "dL/dalpha")
    }
}

/// The band sizes docs/methods.md gives for each profile's decoder inputs (normalised radius
/// <= 0.25 low, > 0.5 high, of H x (W/2+1) bins).
@Test func consensusBandsAtTheProfilesMapSizes() {
    let expected: [Int: (low: Int, high: Int, bins: Int)] = [
        1: (1, 0, 1), 2: (1, 3, 4), 4: (1, 6, 12), 7: (4, 15, 28), 8: (6, 25, 40), 14: (13, 73, 112), 28: (39, 258, 420)]
    for (side, bands) in expected {
        let layer = CrossTaskConsensus(name: "x", channels: 1, height: side, width: side)
        let low = layer.lowMask.filter { $0 == 1 }.count, high = layer.highMask.filter { $0 == 1 }.count
        #expect(low == bands.low && high == bands.high && layer.lowMask.count == bands.bins, "\(side) x \(side)")
    }
}

@Suite struct TaskSpectralInputsTests {
    let tasks: [TaskName] = [.semseg, .normals, .depth]
    let shapes = [(channels: 3, side: 4), (channels: 2, side: 2)]

    func features(_ generator: inout SeededRandom, batch: Int) -> [FeatureMap] {
        shapes.map { shape in
            FeatureMap(values: Matrix(rows: batch * shape.side * shape.side, columns: shape.channels,
                                      values: generator.floats(batch * shape.side * shape.side * shape.channels)),
                       height: shape.side, width: shape.side)
        }
    }

    @Test func everyTaskSeesTheSharedFeaturesAtInitialisation() {
        var generator = SeededRandom(seed: 51)
        let inputs = TaskSpectralInputs(tasks: tasks, features: shapes, crossTaskConsensus: true, lowCutoff: 0.25, highCutoff: 0.5)
        let shared = features(&generator, batch: 2)
        let (perTask, _) = inputs.forward(Array(repeating: shared, count: tasks.count), batch: 2, ForwardContext(training: true))
        for t in tasks.indices {
            for (index, feature) in shared.enumerated() {
                #expect(zip(perTask[t][index].values.values, feature.values.values).allSatisfy { abs($0 - $1) < 1e-5 })
            }
        }
        // Per task and resolution: C*H*(W/2+1) filter values, gamma and beta, two alphas.
        let perTaskCount = shapes.map { $0.channels * $0.side * ($0.side / 2 + 1) + 2 * $0.channels + 2 }.reduce(0, +)
        #expect(inputs.parameters.map(\.count).reduce(0, +) == tasks.count * perTaskCount)
    }

    /// TS-PD's FFTs count at N log2 N real MACs per real map of N = H W points (half a complex
    /// FFT's (N/2) log2 N complex multiplies), the inverse with its 1 / N per value.
    @Test func spectralWorkCountsIntoTheMACs() {
        var generator = SeededRandom(seed: 53)
        let inputs = TaskSpectralInputs(tasks: tasks, features: shapes, crossTaskConsensus: true, lowCutoff: 0.25, highCutoff: 0.5)
        let counter = MACCounter()
        _ = inputs.forward(Array(repeating: features(&generator, batch: 1), count: tasks.count), batch: 1,
                           ForwardContext(training: false, macs: counter))
        // 3 channels of 4 x 4 (N log2 N = 64, 4 x 3 = 12 bins, 16 values per map):
        //   filter: FFT 3·64 + filter 2·3·12 + inverse 3·64 + 3·16 + gamma, beta 3·16 = 552;
        //   consensus: mean 2·48 + FFT 192 + 2 bands x (mask 72 + inverse 240) + alphas 2·48 = 1008.
        // 2 channels of 2 x 2 (N log2 N = 8, 2 x 2 = 4 bins, 4 values per map):
        //   filter: 16 + 16 + (16 + 8) + 8 = 64; consensus: 16 + 16 + 2 x (16 + 24) + 16 = 128.
        #expect(counter.total == tasks.count * (552 + 1008 + 64 + 128))
    }

    @Test func gradientsOfEachTasksFeaturesAndTheWeightsMatchFiniteDifferences() {
        var generator = SeededRandom(seed: 52)
        let inputs = TaskSpectralInputs(tasks: tasks, features: shapes, crossTaskConsensus: true, lowCutoff: 0.3, highCutoff: 0.45)
        for parameter in inputs.parameters {
            _ = parameter.values.update(from: generator.floats(parameter.count, in: 0.3...1.5))
        }
        let batch = 2
        // Each task reads its own features, as behind MTLoRA's task streams.
        let perTaskFeatures = tasks.map { _ in features(&generator, batch: batch) }
        let weights = tasks.map { _ in shapes.map { generator.floats(batch * $0.side * $0.side * $0.channels) } }
        func loss(_ features: [[FeatureMap]]) -> Double {
            let (perTask, _) = inputs.forward(features, batch: batch, ForwardContext(training: true))
            return tasks.indices.map { t in
                shapes.indices.map { weightedSum(perTask[t][$0].values.values, weights[t][$0]) }.reduce(0, +)
            }.reduce(0, +)
        }
        let (_, pullback) = inputs.forward(perTaskFeatures, batch: batch, ForwardContext(training: true))
        for parameter in inputs.parameters { parameter.zeroGradient() }
        let gradients = pullback(tasks.indices.map { t in
            shapes.indices.map { Matrix(rows: perTaskFeatures[t][$0].values.rows, columns: shapes[$0].channels, values: weights[t][$0]) }
        })
        for t in [0, tasks.count - 1] {
            for index in shapes.indices {
                let numeric = numericGradient(perTaskFeatures[t][index].values.values, step: 0.02) { values in
                    var changed = perTaskFeatures
                    changed[t][index].values.values = values
                    return loss(changed)
                }
                expectGradientsMatch(gradients[t][index].values, numeric, "dL/dfeature\(index) of task \(t)")
            }
        }
        for parameter in inputs.parameters where parameter.name.hasSuffix(".alpha") || parameter.name.hasSuffix(".gamma") {
            let saved = Array(parameter.values)
            let numeric = numericGradient(saved, step: 0.02) { values in
                _ = parameter.values.update(from: values)
                defer { _ = parameter.values.update(from: saved) }
                return loss(perTaskFeatures)
            }
            expectGradientsMatch(Array(parameter.gradient!), numeric, parameter.name)
        }
    }
}
