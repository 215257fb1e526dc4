#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax over the last dimension.
public func softmax(_ x: Tensor) -> Tensor {
    let width = x.shape.last ?? 1, rows = x.count / max(width, 1)
    let y = Tensor(uninitialized: x.shape)
    forEachChunk(rows, minimumChunk: max(1, (1 << 15) / max(width, 1))) { chunk in
        for r in chunk {
            let src = x.data + r * width, dst = y.data + r * width
            var peak = -Float.infinity
            for j in 0..<width { peak = max(peak, src[j]) }
            var total: Float = 0
            forEachLanes(0..<width) { j, valid in store8(fastExp(load8(src, j, valid) - peak), dst, j, valid) }
            for j in 0..<width { total += dst[j] }
            let inv = 1 / total
            for j in 0..<width { dst[j] *= inv }
        }
    }
    y.record(x) { y in
        guard let gx = x.gradSink() else { return }
        let gy = y.grad!
        forEachChunk(rows, minimumChunk: max(1, (1 << 15) / max(width, 1))) { chunk in
            for r in chunk {  // dx = y * (dy - <dy, y>)
                let p = y.data + r * width, g = gy + r * width, d = gx + r * width
                var dot: Float = 0
                for j in 0..<width { dot += g[j] * p[j] }
                for j in 0..<width { d[j] += p[j] * (g[j] - dot) }
            }
        }
    }
    return y
}

/// LayerNorm over the last dimension C, with optional affine `weight`, `bias` [C].
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5) -> Tensor {
    let c = x.shape.last ?? 1, rows = x.count / max(c, 1)
    if let weight { precondition(weight.count == c, "LayerNorm weight \(weight.shape) for \(c) features") }
    if let bias { precondition(bias.count == c, "LayerNorm bias \(bias.shape) for \(c) features") }
    // Absent affine parameters act as ones and zeros, so the loops need no branches.
    let scale = weight ?? Tensor.ones([c]), shift = bias ?? Tensor.zeros([c])
    let y = Tensor(uninitialized: x.shape)
    // Per-row statistics for the backward, in tensors so parallel chunks write through pointers.
    let statistics = Tensor(uninitialized: [2, rows])
    let means = statistics.data, rstds = statistics.data + rows
    let px = x.data, py = y.data, pw = scale.data, pb = shift.data
    let rowsPerChunk = max(1, (1 << 15) / max(c, 1))
    forEachChunk(rows, minimumChunk: rowsPerChunk) { chunk in
        for r in chunk {
            let src = px + r * c, dst = py + r * c
            var sum: Float = 0
            for j in 0..<c { sum += src[j] }
            let mean = sum / Float(c)
            var squares: Float = 0
            for j in 0..<c { let d = src[j] - mean; squares += d * d }
            let rstd = 1 / (squares / Float(c) + epsilon).squareRoot()
            means[r] = mean
            rstds[r] = rstd
            for j in 0..<c { dst[j] = (src[j] - mean) * rstd * pw[j] + pb[j] }
        }
    }
    y.record(inputs: [x] + [weight, bias].compactMap { $0 }) { y in
        let gy = y.grad!, px = x.data, pw = scale.data, means = statistics.data, rstds = statistics.data + rows
        if let gx = x.gradSink() {
            forEachChunk(rows, minimumChunk: rowsPerChunk) { chunk in
                for r in chunk {
                    let src = px + r * c, g = gy + r * c, d = gx + r * c
                    let mean = means[r], rstd = rstds[r]
                    // dnorm = dy * w; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
                    var meanD: Float = 0, meanDN: Float = 0
                    for j in 0..<c {
                        let norm = (src[j] - mean) * rstd, dnorm = g[j] * pw[j]
                        meanD += dnorm
                        meanDN += dnorm * norm
                    }
                    meanD /= Float(c)
                    meanDN /= Float(c)
                    for j in 0..<c {
                        let norm = (src[j] - mean) * rstd
                        d[j] += rstd * (g[j] * pw[j] - meanD - norm * meanDN)
                    }
                }
            }
        }
        // Parameter gradients sum over rows: serial, in row order.
        let gw = weight?.gradSink(), gb = bias?.gradSink()
        guard gw != nil || gb != nil else { return }
        for r in 0..<rows {
            let src = px + r * c, g = gy + r * c, mean = means[r], rstd = rstds[r]
            if let gw { for j in 0..<c { gw[j] += g[j] * (src[j] - mean) * rstd } }
            if let gb { for j in 0..<c { gb[j] += g[j] } }
        }
    }
    return y
}

/// BatchNorm over the channels of NCHW `x` (PyTorch BatchNorm2d).
/// Training normalises with the batch statistics (biased variance) and moves the
/// running statistics by `momentum` (the running variance takes the unbiased
/// batch variance); evaluation normalises with the running statistics.
public func batchNorm2d(_ x: Tensor, weight: Tensor?, bias: Tensor?,
                        runningMean: Tensor, runningVariance: Tensor,
                        training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5) -> Tensor {
    precondition(x.rank == 4, "batchNorm2d needs NCHW, got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], plane = x.shape[2] * x.shape[3]
    let perChannel = n * plane
    precondition(runningMean.count == c && runningVariance.count == c, "running statistics for \(c) channels")
    var means = [Float](repeating: 0, count: c), rstds = [Float](repeating: 0, count: c)
    for ch in 0..<c {
        if training {
            var sum = 0.0
            for b in 0..<n {
                let p = x.data + (b * c + ch) * plane
                for i in 0..<plane { sum += Double(p[i]) }
            }
            let mean = sum / Double(perChannel)
            var squares = 0.0
            for b in 0..<n {
                let p = x.data + (b * c + ch) * plane
                for i in 0..<plane { let d = Double(p[i]) - mean; squares += d * d }
            }
            let variance = squares / Double(perChannel)
            means[ch] = Float(mean)
            rstds[ch] = Float(1 / (variance + Double(epsilon)).squareRoot())
            let unbiased = perChannel > 1 ? squares / Double(perChannel - 1) : variance
            runningMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * Float(mean)
            runningVariance.data[ch] = (1 - momentum) * runningVariance.data[ch] + momentum * Float(unbiased)
        } else {
            means[ch] = runningMean.data[ch]
            rstds[ch] = 1 / (runningVariance.data[ch] + epsilon).squareRoot()
        }
    }
    let y = Tensor(uninitialized: x.shape)
    for b in 0..<n {
        for ch in 0..<c {
            let src = x.data + (b * c + ch) * plane, dst = y.data + (b * c + ch) * plane
            let scale = rstds[ch] * (weight?.data[ch] ?? 1)
            let shift = (bias?.data[ch] ?? 0) - means[ch] * scale
            for i in 0..<plane { dst[i] = src[i] * scale + shift }
        }
    }
    y.record(inputs: [x] + [weight, bias].compactMap { $0 }) { y in
        let gy = y.grad!
        let gx = x.gradSink(), gw = weight?.gradSink(), gb = bias?.gradSink()
        for ch in 0..<c {
            let mean = means[ch], rstd = rstds[ch], w = weight?.data[ch] ?? 1
            var sumG = 0.0, sumGN = 0.0
            for b in 0..<n {
                let src = x.data + (b * c + ch) * plane, g = gy + (b * c + ch) * plane
                for i in 0..<plane {
                    sumG += Double(g[i])
                    sumGN += Double(g[i] * (src[i] - mean) * rstd)
                }
            }
            gw?[ch] += Float(sumGN)
            gb?[ch] += Float(sumG)
            guard let gx else { continue }
            // Training: the batch statistics depend on x, as in LayerNorm's backward.
            let meanD = training ? Float(sumG) * w / Float(perChannel) : 0
            let meanDN = training ? Float(sumGN) * w / Float(perChannel) : 0
            for b in 0..<n {
                let src = x.data + (b * c + ch) * plane, g = gy + (b * c + ch) * plane
                let d = gx + (b * c + ch) * plane
                for i in 0..<plane {
                    let norm = (src[i] - mean) * rstd
                    d[i] += rstd * (g[i] * w - meanD - norm * meanDN)
                }
            }
        }
    }
    return y
}
