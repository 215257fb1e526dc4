#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The task losses of METHODS.md. Each exists once, as a kernel over raw buffers that returns
// the mean loss and writes its gradient with respect to the predictions; the engine's `TaskLoss`
// calls it on channels-last rows (any `ChannelLayout` serves, NCHW included). Labels say themselves
// which pixels count: `ignoredClassLabel` for the class losses, a zero vector for normals, a
// depth of 0 or less (or not finite) for depth. Nothing labelled gives loss 0 and a zero
// gradient, not NaN, since e.g. human_parts ignores whole images without people.
//
// The engine's trained results depend on these kernels bit for bit: Double sums in pixel
// order, Float per-pixel arithmetic in the order written, libm `exp` / `log`, and the mean's
// 1 / count applied to the gradient as one Float factor.

/// The class label of a pixel the class losses skip (PASCAL's 255).
public let ignoredClassLabel: Float = 255

// Each returns the mean loss and overwrites `gradient` (the predictions' size) with the
// gradient of that mean times `scale` (a task's loss weight, applied in the same pass): the
// loss starts the backward pass, so there is nothing to add into.

/// Pixel cross-entropy of `logits` laid out as `layout` (K = `layout.channels` classes);
/// `labels` one class index per pixel in the layout's pixel order, `ignoredClassLabel` skipped.
/// The mean over labelled pixels of -log softmax(logits)[label].
public func crossEntropyWithGradient(_ logits: UnsafePointer<Float>, labels: UnsafePointer<Float>,
                                     _ layout: ChannelLayout, gradient: UnsafeMutablePointer<Float>, scale: Float = 1) -> Double {
    let k = layout.channels, step = layout.inner
    // The labelled pixels are counted first, so each pixel's gradient is averaged and weighted
    // while in cache: ((softmax - one-hot) * (1 / N)) * scale, the products `averaged` would
    // apply in a second pass over the whole buffer, and no zero-filling first.
    var counted = 0
    for pixel in 0..<layout.pixels where labels[pixel] != ignoredClassLabel { counted += 1 }
    guard counted > 0 else { gradient.initialize(repeating: 0, count: layout.count); return 0 }
    let inverse = Float(1 / Double(counted))
    let unlabelled: Float = 0 * inverse * scale  // +0, or -0 under a negative scale, as `averaged` gives
    var total = 0.0
    layout.forEachPixel { pixel, offset in
        let g = gradient + offset
        guard labels[pixel] != ignoredClassLabel else {
            for c in 0..<k { g[c * step] = unlabelled }
            return
        }
        let label = Int(labels[pixel])
        precondition(label >= 0 && label < k, "label \(labels[pixel]) outside 0..<\(k) (ignored: \(ignoredClassLabel))")
        let row = logits + offset
        var largest = -Float.infinity
        for c in 0..<k { largest = max(largest, row[c * step]) }
        var sum: Float = 0
        for c in 0..<k { let e = exp(row[c * step] - largest); g[c * step] = e; sum += e }
        total += Double(log(sum) + largest - row[label * step])
        for c in 0..<k { g[c * step] /= sum }  // softmax - one-hot
        g[label * step] -= 1
        for c in 0..<k { g[c * step] = g[c * step] * inverse * scale }
    }
    return total / Double(counted)
}

/// Balanced binary cross-entropy (MTLoRA's saliency loss) of `count` single-channel logits (one
/// layout for NCHW and channels-last): with w = N_neg / N over the labelled pixels (label > 0.5
/// positive), positives weighted by w and negatives by 1 - w; the mean over labelled pixels.
public func balancedBCEWithGradient(_ logits: UnsafePointer<Float>, labels: UnsafePointer<Float>, count: Int,
                                    gradient: UnsafeMutablePointer<Float>, scale: Float = 1) -> Double {
    var positives = 0.0, negatives = 0.0
    for p in 0..<count where labels[p] != ignoredClassLabel { if labels[p] > 0.5 { positives += 1 } else { negatives += 1 } }
    let w = Float(negatives / max(1, positives + negatives))
    gradient.initialize(repeating: 0, count: count)
    var total = 0.0, counted = 0
    for p in 0..<count where labels[p] != ignoredClassLabel {
        let x = logits[p], y = labels[p]
        // log σ(x) and log(1 - σ(x)), computed without overflow.
        let softplusNegative = max(-x, 0) + log(1 + exp(-abs(x)))
        let logP = -softplusNegative, logQ = -x - softplusNegative
        let sigma = 1 / (1 + exp(-x))
        total -= Double(w * y * logP + (1 - w) * (1 - y) * logQ)
        gradient[p] = -w * y * (1 - sigma) + (1 - w) * (1 - y) * sigma
        counted += 1
    }
    return averaged(total, counted, gradient, count: count, scale: scale)
}

/// L1 between the L2-normalised prediction (v / max(|v|, 1e-12) over the channels, as
/// F.normalize) and the label, laid out as `layout` (labels too); pixels whose label is the
/// zero vector skipped. The mean over the labelled pixels' components.
public func normalsL1WithGradient(_ predictions: UnsafePointer<Float>, labels: UnsafePointer<Float>,
                                  _ layout: ChannelLayout, gradient: UnsafeMutablePointer<Float>, scale: Float = 1) -> Double {
    let channels = layout.channels, step = layout.inner
    precondition(channels > 0, "normals need at least one channel")
    gradient.initialize(repeating: 0, count: layout.count)
    var total = 0.0, counted = 0
    layout.forEachPixel { _, offset in
        let v = predictions + offset, target = labels + offset, g = gradient + offset
        guard (0..<channels).contains(where: { target[$0 * step] != 0 }) else { return }
        var squares = v[0] * v[0]
        for c in 1..<channels { squares += v[c * step] * v[c * step] }
        let norm = max(squares.squareRoot(), 1e-12)
        // d loss / d unit is the sign of (unit - target); through the normalisation the
        // gradient is (I - u uᵀ) sign / |v|, with <sign, unit> summed first.
        func unit(_ c: Int) -> Float { v[c * step] / norm }
        func sign(_ c: Int) -> Float {
            let d = unit(c) - target[c * step]
            return d > 0 ? 1 : (d < 0 ? -1 : 0)
        }
        for c in 0..<channels { total += Double(abs(unit(c) - target[c * step])) }
        var dot = sign(0) * unit(0)
        for c in 1..<channels { dot += sign(c) * unit(c) }
        for c in 0..<channels { g[c * step] = (sign(c) - unit(c) * dot) / norm }
        counted += channels
    }
    return averaged(total, counted, gradient, count: layout.count, scale: scale)
}

/// L1 over the `count` elements whose label is a depth (positive and finite); one layout for
/// NCHW and channels-last. The mean over those elements.
public func depthL1WithGradient(_ predictions: UnsafePointer<Float>, labels: UnsafePointer<Float>, count: Int,
                                gradient: UnsafeMutablePointer<Float>, scale: Float = 1) -> Double {
    gradient.initialize(repeating: 0, count: count)
    var total = 0.0, counted = 0
    for p in 0..<count where labels[p] > 0 && labels[p].isFinite {
        let d = predictions[p] - labels[p]
        total += Double(abs(d))
        gradient[p] = d > 0 ? 1 : (d < 0 ? -1 : 0)
        counted += 1
    }
    return averaged(total, counted, gradient, count: count, scale: scale)
}

/// The mean of the summed loss; the summed gradient scaled in place to the mean's, then by
/// `scale` (two Float products in that order, so a weight applied here gives the bits a
/// separate pass would).
private func averaged(_ total: Double, _ counted: Int, _ gradient: UnsafeMutablePointer<Float>, count: Int,
                      scale: Float) -> Double {
    guard counted > 0 else { return 0 }
    let inverse = Float(1 / Double(counted))
    for i in 0..<count { gradient[i] = gradient[i] * inverse * scale }
    return total / Double(counted)
}
