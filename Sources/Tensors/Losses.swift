#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The task losses of METHODS.md, each a scalar tensor with a fused backward.
// Dense predictions are NCHW; per-pixel labels and masks are row-major N*H*W.
// A batch with no valid pixel gives loss 0 and zero gradient (not NaN), since
// e.g. human_parts ignores whole images without people.

/// Pixel cross-entropy: `logits` [N, K, H, W] (or [N, K]), `labels` one class per
/// pixel (N*H*W), pixels labelled `ignoreIndex` skipped; the mean over the rest.
public func crossEntropy(_ logits: Tensor, labels: [Int32], ignoreIndex: Int32 = 255) -> Tensor {
    precondition(logits.rank >= 2, "crossEntropy needs [N, K, ...] logits, got \(logits.shape)")
    let n = logits.shape[0], k = logits.shape[1], plane = logits.count / (n * k)
    precondition(labels.count == n * plane, "\(labels.count) labels for logits \(logits.shape)")
    var valid = 0
    var total = 0.0
    let px = logits.data
    for b in 0..<n {
        for p in 0..<plane {
            let label = labels[b * plane + p]
            if label == ignoreIndex { continue }
            precondition(label >= 0 && Int(label) < k, "label \(label) outside 0..<\(k) (ignore index \(ignoreIndex))")
            let base = px + b * k * plane + p
            var peak = -Float.infinity
            for c in 0..<k { peak = max(peak, base[c * plane]) }
            var sum: Float = 0
            for c in 0..<k { sum += expf(base[c * plane] - peak) }
            total += Double(logf(sum) + peak - base[Int(label) * plane])
            valid += 1
        }
    }
    let y = Tensor(scalar: valid == 0 ? 0 : Float(total / Double(valid)))
    y.record(logits) { y in
        guard valid > 0, let gx = logits.gradSink() else { return }
        let g = y.grad![0] / Float(valid), px = logits.data
        for b in 0..<n {
            for p in 0..<plane {
                let label = labels[b * plane + p]
                if label == ignoreIndex { continue }
                let base = px + b * k * plane + p, gbase = gx + b * k * plane + p
                var peak = -Float.infinity
                for c in 0..<k { peak = max(peak, base[c * plane]) }
                var sum: Float = 0
                for c in 0..<k { sum += expf(base[c * plane] - peak) }
                for c in 0..<k {  // softmax - one-hot
                    let probability = expf(base[c * plane] - peak) / sum
                    gbase[c * plane] += g * (probability - (c == Int(label) ? 1 : 0))
                }
            }
        }
    }
    return y
}

/// Balanced binary cross-entropy on logits (saliency): with w = N_neg / N over the
/// valid pixels of the batch, the mean over valid pixels of
/// w * y * -log sigmoid(x) + (1 - w) * (1 - y) * -log(1 - sigmoid(x)).
/// `targets` hold y in [0, 1] with `ignoreValue` (255) marking invalid pixels.
public func balancedBCEWithLogits(_ logits: Tensor, targets: Tensor, ignoreValue: Float = 255) -> Tensor {
    precondition(logits.shape == targets.shape, "logits \(logits.shape) vs targets \(targets.shape)")
    let count = logits.count, px = logits.data, pt = targets.data
    var valid = 0
    var negatives = 0.0
    for i in 0..<count where pt[i] != ignoreValue {
        valid += 1
        negatives += Double(1 - pt[i])
    }
    let w = valid == 0 ? 0 : Float(negatives / Double(valid))
    var total = 0.0
    for i in 0..<count where pt[i] != ignoreValue {
        let x = px[i], t = pt[i]
        total += Double(w * t * softplus(-x) + (1 - w) * (1 - t) * softplus(x))
    }
    let y = Tensor(scalar: valid == 0 ? 0 : Float(total / Double(valid)))
    y.record(logits) { y in
        guard valid > 0, let gx = logits.gradSink() else { return }
        let g = y.grad![0] / Float(valid), px = logits.data, pt = targets.data
        for i in 0..<count where pt[i] != ignoreValue {
            let s = stableSigmoid(px[i]), t = pt[i]
            gx[i] += g * (-w * t * (1 - s) + (1 - w) * (1 - t) * s)
        }
    }
    return y
}

/// Masked L1 (depth): sum over valid pixels and channels of |prediction - target|,
/// divided by the number of valid pixels. `valid` has one entry per pixel (N*H*W).
public func maskedL1(_ prediction: Tensor, target: Tensor, valid: [Bool]) -> Tensor {
    pixelL1(prediction, target: target, valid: valid, normalizingPrediction: false)
}

/// Surface-normal loss: the prediction is L2-normalised over its channels at every
/// pixel (F.normalize, eps 1e-12), then masked L1 as in `maskedL1`.
public func normalsL1(_ prediction: Tensor, target: Tensor, valid: [Bool]) -> Tensor {
    pixelL1(prediction, target: target, valid: valid, normalizingPrediction: true)
}

private func pixelL1(_ prediction: Tensor, target: Tensor, valid: [Bool], normalizingPrediction: Bool) -> Tensor {
    precondition(prediction.shape == target.shape && prediction.rank == 4,
                 "L1 needs matching NCHW prediction and target, got \(prediction.shape), \(target.shape)")
    let n = prediction.shape[0], c = prediction.shape[1], plane = prediction.shape[2] * prediction.shape[3]
    precondition(valid.count == n * plane, "\(valid.count) mask entries for \(n * plane) pixels")
    let epsilon: Float = 1e-12
    // Per pixel: 1 / max(|p|, eps) (1 when not normalising).
    var inverseNorms = [Float](repeating: 1, count: n * plane)
    let pp = prediction.data, pt = target.data
    var validCount = 0
    var total = 0.0
    for b in 0..<n {
        for p in 0..<plane where valid[b * plane + p] {
            validCount += 1
            let base = b * c * plane + p
            if normalizingPrediction {
                var squares: Float = 0
                for ch in 0..<c { squares += pp[base + ch * plane] * pp[base + ch * plane] }
                inverseNorms[b * plane + p] = 1 / max(squares.squareRoot(), epsilon)
            }
            let inv = inverseNorms[b * plane + p]
            for ch in 0..<c { total += Double(abs(pp[base + ch * plane] * inv - pt[base + ch * plane])) }
        }
    }
    let y = Tensor(scalar: validCount == 0 ? 0 : Float(total / Double(validCount)))
    y.record(prediction) { y in
        guard validCount > 0, let gx = prediction.gradSink() else { return }
        let g = y.grad![0] / Float(validCount), pp = prediction.data, pt = target.data
        var signs = [Float](repeating: 0, count: c)
        for b in 0..<n {
            for p in 0..<plane where valid[b * plane + p] {
                let base = b * c * plane + p, inv = inverseNorms[b * plane + p]
                var dot: Float = 0  // <unit, d loss / d unit>
                for ch in 0..<c {
                    let unit = pp[base + ch * plane] * inv, difference = unit - pt[base + ch * plane]
                    signs[ch] = difference > 0 ? g : (difference < 0 ? -g : 0)
                    dot += unit * signs[ch]
                }
                // Through p / |p|: (d - unit <unit, d>) / |p|, unless the norm was clamped at eps.
                let projecting = normalizingPrediction && inv < 1 / epsilon
                for ch in 0..<c {
                    let unit = pp[base + ch * plane] * inv
                    gx[base + ch * plane] += inv * (signs[ch] - (projecting ? unit * dot : 0))
                }
            }
        }
    }
    return y
}

@inline(__always)
func softplus(_ x: Float) -> Float {
    max(x, 0) + log1pf(expf(-abs(x)))
}
