import Testing
import Tensors

/// The channels-last BatchNorm kernels (8 channels at a time, channels split over threads, ReLU
/// fused into both passes, the input gradient written without a zero-filled buffer) give the
/// bits of the general layout's per-channel loops followed by a separate ReLU.
@Suite struct ChannelsLastBatchNormTests {
    @Test func fusedChannelsLastMatchesGeneralLayoutAndSeparateReLU() {
        // 203 channels: three chunks of at least 64 channels, and a partial group of 8 at the end.
        ComputeThreads.$chunksInThisTask.withValue(3) { compare(rows: 300, channels: 203) }
    }

    private func compare(rows: Int, channels c: Int) {
        var random = SeededRandom(seed: 91)
        let x = (0..<(rows * c)).map { _ in random.uniform(-2, 3) }
        let dy = (0..<(rows * c)).map { _ in random.uniform(-1, 1) }
        let weight = (0..<c).map { _ in random.uniform(0.5, 1.5) }, bias = (0..<c).map { _ in random.uniform(-1, 1) }
        let transposed = { (m: [Float]) in (0..<(rows * c)).map { m[($0 % rows) * c + $0 / rows] } }
        let channelsLast = ChannelLayout(outer: rows, channels: c, inner: 1)
        let general = ChannelLayout(outer: 1, channels: c, inner: rows)

        // Fused, channels-last.
        var means = [Float](repeating: 0, count: c), rstds = means
        var runningMean = [Float](repeating: 0.5, count: c), runningVariance = [Float](repeating: 2, count: c)
        batchNormStatistics(x, channelsLast, means: &means, rstds: &rstds, runningMean: &runningMean,
                            runningVariance: &runningVariance, training: true)
        var y = [Float](repeating: .nan, count: rows * c)
        batchNormForward(x, channelsLast, means: means, rstds: rstds, weight: weight, bias: bias, &y, relu: true)
        var dx = [Float](repeating: .nan, count: rows * c)
        var dw = [Float](repeating: 0.25, count: c), db = [Float](repeating: -0.25, count: c)
        batchNormBackward(x, channelsLast, means: means, rstds: rstds, weight: weight, training: true,
                          outputGradient: dy, reluOutput: y, inputGradient: &dx, accumulate: false,
                          weightGradient: &dw, biasGradient: &db)

        // General layout (channel-major), then ReLU on its own, gradients into zeros.
        let xT = transposed(x), dyT = transposed(dy)
        var meansT = [Float](repeating: 0, count: c), rstdsT = meansT
        var runningMeanT = [Float](repeating: 0.5, count: c), runningVarianceT = [Float](repeating: 2, count: c)
        batchNormStatistics(xT, general, means: &meansT, rstds: &rstdsT, runningMean: &runningMeanT,
                            runningVariance: &runningVarianceT, training: true)
        var normalizedT = [Float](repeating: .nan, count: rows * c), yT = normalizedT
        batchNormForward(xT, general, means: meansT, rstds: rstdsT, weight: weight, bias: bias, &normalizedT)
        // ReLU on its own, by its definition (gradient added into zeros).
        for i in 0..<(rows * c) { yT[i] = max(normalizedT[i], 0) }
        var dReLUT = [Float](repeating: 0, count: rows * c), dxT = dReLUT
        for i in 0..<(rows * c) where normalizedT[i] > 0 { dReLUT[i] = 0 + dyT[i] }
        var dwT = [Float](repeating: 0.25, count: c), dbT = [Float](repeating: -0.25, count: c)
        batchNormBackward(xT, general, means: meansT, rstds: rstdsT, weight: weight, training: true,
                          outputGradient: dReLUT, inputGradient: &dxT, weightGradient: &dwT, biasGradient: &dbT)

        #expect(means == meansT && rstds == rstdsT)
        #expect(runningMean == runningMeanT && runningVariance == runningVarianceT)
        #expect(transposed(y) == yT)
        #expect(transposed(dx) == dxT)
        #expect(dw == dwT && db == dbT)
        #expect(y.contains { $0 == 0 } && y.contains { $0 > 0 }, "the ReLU must cut somewhere")
    }
}
