#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Row softmax of `rows` x `width` values; `y` may be `x` (in place).
public func softmaxForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    parallelChunks(rows, minimumChunk: max(1, (1 << 15) / max(width, 1))) { _, chunk in
        for r in chunk {
            let src = x + r * width, dst = y + r * width
            var peak = -Float.infinity
            for j in 0..<width { peak = max(peak, src[j]) }
            var total: Float = 0
            forEachLanes(0..<width) { j, valid in store8(fastExp(load8(src, j, valid) - peak), dst, j, valid) }
            for j in 0..<width { total += dst[j] }
            let inv = 1 / total
            for j in 0..<width { dst[j] *= inv }
        }
    }
}

/// dx += y (dy - <dy, y>) per row, given the softmax output `y`.
public func softmaxBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                            rows: Int, width: Int) {
    parallelChunks(rows, minimumChunk: max(1, (1 << 15) / max(width, 1))) { _, chunk in
        for r in chunk {
            let p = y + r * width, g = dy + r * width, d = dx + r * width
            var dot: Float = 0
            for j in 0..<width { dot += g[j] * p[j] }
            for j in 0..<width { d[j] += p[j] * (g[j] - dot) }
        }
    }
}

/// LayerNorm of each of `rows` rows of `channels` values; keeps each row's mean and
/// 1 / standard deviation for the backward.
public func layerNormForward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                             _ y: UnsafeMutablePointer<Float>, means: UnsafeMutablePointer<Float>,
                             rstds: UnsafeMutablePointer<Float>, rows: Int, channels c: Int, epsilon: Float = 1e-5) {
    parallelChunks(rows, minimumChunk: max(1, (1 << 15) / max(c, 1))) { _, chunk in
        for r in chunk {
            let src = x + r * c, dst = y + r * c
            var sum: Float = 0
            for j in 0..<c { sum += src[j] }
            let mean = sum / Float(c)
            var squares: Float = 0
            for j in 0..<c { let d = src[j] - mean; squares += d * d }
            let rstd = 1 / (squares / Float(c) + epsilon).squareRoot()
            means[r] = mean
            rstds[r] = rstd
            for j in 0..<c { dst[j] = (src[j] - mean) * rstd * weight[j] + bias[j] }
        }
    }
}

/// Adds LayerNorm's gradients into whichever of `inputGradient`, `weightGradient`,
/// `biasGradient` are given.
public func layerNormBackward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, means: UnsafePointer<Float>,
                              rstds: UnsafePointer<Float>, outputGradient gy: UnsafePointer<Float>,
                              inputGradient gx: UnsafeMutablePointer<Float>?,
                              weightGradient gw: UnsafeMutablePointer<Float>?, biasGradient gb: UnsafeMutablePointer<Float>?,
                              rows: Int, channels c: Int) {
    if let gx {
        parallelChunks(rows, minimumChunk: max(1, (1 << 15) / max(c, 1))) { _, chunk in
            for r in chunk {
                let src = x + r * c, g = gy + r * c, d = gx + r * c
                let mean = means[r], rstd = rstds[r]
                // dnorm = dy * w; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
                var meanD: Float = 0, meanDN: Float = 0
                for j in 0..<c {
                    let norm = (src[j] - mean) * rstd, dnorm = g[j] * weight[j]
                    meanD += dnorm
                    meanDN += dnorm * norm
                }
                meanD /= Float(c)
                meanDN /= Float(c)
                for j in 0..<c {
                    let norm = (src[j] - mean) * rstd
                    d[j] += rstd * (g[j] * weight[j] - meanD - norm * meanDN)
                }
            }
        }
    }
    // Parameter gradients sum over rows in row order, per channel: 8 channels at a time and
    // channels split over threads, which changes no bit.
    guard gw != nil || gb != nil else { return }
    parallelChunks(c, minimumChunk: max(8, (1 << 15) / max(rows, 1))) { _, channels in
        for r in 0..<rows {
            let src = x + r * c, g = gy + r * c, mean = means[r], rstd = rstds[r]
            forEachLanes(channels) { j, valid in
                let gj = load8(g, j, valid)
                if let gw { store8(load8(gw, j, valid) + gj * (load8(src, j, valid) - mean) * rstd, gw, j, valid) }
                if let gb { store8(load8(gb, j, valid) + gj, gb, j, valid) }
            }
        }
    }
}

/// The mean and 1 / standard deviation per channel: the batch's (two-pass, in Double) while
/// training, which also moves the running statistics by `momentum` (the running variance takes
/// the unbiased batch variance); the running statistics in evaluation.
public func batchNormStatistics(_ x: UnsafePointer<Float>, _ layout: ChannelLayout,
                                means: inout [Float], rstds: inout [Float],
                                runningMean: UnsafeMutablePointer<Float>, runningVariance: UnsafeMutablePointer<Float>,
                                training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5) {
    let c = layout.channels, inner = layout.inner, count = layout.pixels
    guard training else {
        for ch in 0..<c {
            means[ch] = runningMean[ch]
            rstds[ch] = 1 / (runningVariance[ch] + epsilon).squareRoot()
        }
        return
    }
    // Per-channel accumulators through pointers: with channels-last rows every run is one value.
    var sums = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
    sums.withUnsafeMutableBufferPointer { sums in
        squares.withUnsafeMutableBufferPointer { squares in
            let sums = sums.baseAddress!, squares = squares.baseAddress!
            if inner == 1 {
                // Channels-last: each channel sums its rows in row order, 8 channels at a time,
                // and channels are independent, so splitting them over threads changes no bit.
                let rows = layout.outer
                parallelChunks(c, minimumChunk: 64) { _, channels in
                    for r in 0..<rows {
                        let row = x + r * c
                        forEachLanes(channels) { ch, valid in
                            store8(load8(sums, ch, valid) + SIMD8<Double>(load8(row, ch, valid)), sums, ch, valid)
                        }
                    }
                    for ch in channels { sums[ch] /= Double(count) }
                    for r in 0..<rows {
                        let row = x + r * c
                        forEachLanes(channels) { ch, valid in
                            let d = SIMD8<Double>(load8(row, ch, valid)) - load8(sums, ch, valid)
                            store8(load8(squares, ch, valid) + d * d, squares, ch, valid)
                        }
                    }
                }
                return
            }
            layout.forEachRun { ch, offset in
                var sum = sums[ch]
                for i in 0..<inner { sum += Double(x[offset + i]) }
                sums[ch] = sum
            }
            for ch in 0..<c { sums[ch] /= Double(count) }
            layout.forEachRun { ch, offset in
                var total = squares[ch]
                let mean = sums[ch]
                for i in 0..<inner { let d = Double(x[offset + i]) - mean; total += d * d }
                squares[ch] = total
            }
        }
    }
    let batchMeans = sums
    for ch in 0..<c {
        let variance = squares[ch] / Double(count)
        means[ch] = Float(batchMeans[ch])
        rstds[ch] = Float(1 / (variance + Double(epsilon)).squareRoot())
        let unbiased = count > 1 ? squares[ch] / Double(count - 1) : variance
        runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * Float(batchMeans[ch])
        runningVariance[ch] = (1 - momentum) * runningVariance[ch] + momentum * Float(unbiased)
    }
}

/// y = (x - mean) / std * weight + bias per channel, then max(y, 0) when `relu` is set (the
/// BatchNorm -> ReLU of the decoder heads in one pass).
public func batchNormForward(_ x: UnsafePointer<Float>, _ layout: ChannelLayout, means: [Float], rstds: [Float],
                             weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                             relu: Bool = false) {
    let c = layout.channels, inner = layout.inner
    var scales = [Float](repeating: 0, count: c), shifts = [Float](repeating: 0, count: c)
    for ch in 0..<c {
        scales[ch] = rstds[ch] * weight[ch]
        shifts[ch] = bias[ch] - means[ch] * scales[ch]
    }
    scales.withUnsafeBufferPointer { scales in
        shifts.withUnsafeBufferPointer { shifts in
            let scales = scales.baseAddress!, shifts = shifts.baseAddress!
            if inner == 1 {
                parallelChunks(layout.outer, minimumChunk: max(1, (1 << 15) / max(c, 1))) { _, rows in
                    for r in rows {
                        let src = x + r * c, dst = y + r * c
                        forEachLanes(0..<c) { ch, valid in
                            var v = load8(src, ch, valid) * load8(scales, ch, valid) + load8(shifts, ch, valid)
                            // Swift's max(v, 0) is `0 >= v ? 0 : v`; the same choice per lane.
                            if relu { v.replace(with: 0, where: v .<= 0) }
                            store8(v, dst, ch, valid)
                        }
                    }
                }
                return
            }
            layout.forEachRun { ch, offset in
                let scale = scales[ch], shift = shifts[ch]
                for i in 0..<inner {
                    let v = x[offset + i] * scale + shift
                    y[offset + i] = relu ? max(v, 0) : v
                }
            }
        }
    }
}

/// Adds BatchNorm's gradients into whichever of `inputGradient`, `weightGradient`,
/// `biasGradient` are given (with `accumulate` false the input gradient is written, the same
/// bits as adding into zeros). Training: the batch statistics depend on x, as in LayerNorm.
/// `reluOutput`: the forward ran with `relu`, so `outputGradient` is the ReLU output's gradient
/// and passes where the output is > 0 (as ReLU's own backward would, into zeros).
public func batchNormBackward(_ x: UnsafePointer<Float>, _ layout: ChannelLayout, means: [Float], rstds: [Float],
                              weight: UnsafePointer<Float>, training: Bool, outputGradient gy: UnsafePointer<Float>,
                              reluOutput: UnsafePointer<Float>? = nil,
                              inputGradient gx: UnsafeMutablePointer<Float>?, accumulate: Bool = true,
                              weightGradient gw: UnsafeMutablePointer<Float>?, biasGradient gb: UnsafeMutablePointer<Float>?) {
    let c = layout.channels, inner = layout.inner
    let count = Float(layout.pixels)
    var sumG = [Double](repeating: 0, count: c), sumGN = [Double](repeating: 0, count: c)
    // Per channel: rstd, weight, mean(dnorm), mean(dnorm * norm), in four runs of c.
    var factors = [Float](repeating: 0, count: 4 * c)
    /// The per-channel sums done: the parameter gradients and the input gradient's factors.
    func finish(_ channels: Range<Int>, _ sumG: UnsafePointer<Double>, _ sumGN: UnsafePointer<Double>,
                _ f: UnsafeMutablePointer<Float>) {
        for ch in channels {
            gw?[ch] += Float(sumGN[ch])
            gb?[ch] += Float(sumG[ch])
            f[ch] = rstds[ch]
            f[c + ch] = weight[ch]
            f[2 * c + ch] = training ? Float(sumG[ch]) * weight[ch] / count : 0
            f[3 * c + ch] = training ? Float(sumGN[ch]) * weight[ch] / count : 0
        }
    }
    sumG.withUnsafeMutableBufferPointer { sumG in
        sumGN.withUnsafeMutableBufferPointer { sumGN in
            factors.withUnsafeMutableBufferPointer { factors in
                means.withUnsafeBufferPointer { means in
                  rstds.withUnsafeBufferPointer { rstds in
                    let sumG = sumG.baseAddress!, sumGN = sumGN.baseAddress!, f = factors.baseAddress!
                    let means = means.baseAddress!, rstds = rstds.baseAddress!
                    if inner == 1 {
                        // Channels-last: every channel's sums run over the rows in row order, 8
                        // channels at a time, and channels are split over threads (no bit changes).
                        let rows = layout.outer
                        parallelChunks(c, minimumChunk: 64) { _, channels in
                            @inline(__always) func gradient(_ offset: Int, _ ch: Int, _ valid: Int) -> SIMD8<Float> {
                                var g = load8(gy + offset, ch, valid)
                                if let reluOutput {
                                    g = SIMD8<Float>() + g
                                    g.replace(with: 0, where: .!(load8(reluOutput + offset, ch, valid) .> 0))
                                }
                                return g
                            }
                            for r in 0..<rows {
                                forEachLanes(channels) { ch, valid in
                                    let g = gradient(r * c, ch, valid)
                                    let centered = load8(x + r * c, ch, valid) - load8(means, ch, valid)
                                    store8(load8(sumG, ch, valid) + SIMD8<Double>(g), sumG, ch, valid)
                                    store8(load8(sumGN, ch, valid) + SIMD8<Double>(g * centered * load8(rstds, ch, valid)),
                                           sumGN, ch, valid)
                                }
                            }
                            finish(channels, sumG, sumGN, f)
                            guard let gx else { return }
                            for r in 0..<rows {
                                forEachLanes(channels) { ch, valid in
                                    let g = gradient(r * c, ch, valid)
                                    let rstd = load8(f, ch, valid), w = load8(f + c, ch, valid)
                                    let md = load8(f + 2 * c, ch, valid), mdn = load8(f + 3 * c, ch, valid)
                                    let norm = (load8(x + r * c, ch, valid) - load8(means, ch, valid)) * rstd
                                    let base = accumulate ? load8(gx + r * c, ch, valid) : SIMD8<Float>()
                                    store8(base + rstd * (g * w - md - norm * mdn), gx + r * c, ch, valid)
                                }
                            }
                        }
                        return
                    }
                    @inline(__always) func gradient(_ i: Int) -> Float {
                        guard let reluOutput else { return gy[i] }
                        return reluOutput[i] > 0 ? 0 + gy[i] : 0
                    }
                    layout.forEachRun { ch, offset in
                        let mean = means[ch], rstd = rstds[ch]
                        var g = sumG[ch], gn = sumGN[ch]
                        for i in 0..<inner {
                            g += Double(gradient(offset + i))
                            gn += Double(gradient(offset + i) * (x[offset + i] - mean) * rstd)
                        }
                        sumG[ch] = g
                        sumGN[ch] = gn
                    }
                    finish(0..<c, sumG, sumGN, f)
                    guard let gx else { return }
                    layout.forEachRun { ch, offset in
                        let mean = means[ch], rstd = f[ch], w = f[c + ch], md = f[2 * c + ch], mdn = f[3 * c + ch]
                        for i in 0..<inner {
                            let norm = (x[offset + i] - mean) * rstd
                            let base = accumulate ? gx[offset + i] : 0
                            gx[offset + i] = base + rstd * (gradient(offset + i) * w - md - norm * mdn)
                        }
                    }
                  }
                }
            }
        }
    }
}
