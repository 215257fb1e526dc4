import Foundation

/// GELU, the exact form 0.5 x (1 + erf(x / √2)) that PyTorch's nn.GELU uses by default.
func gelu(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
    context.count(x.values.count)
    var y = Matrix(uninitialized: x.rows, x.columns)
    // The derivative Φ(x) + x φ(x), kept from the forward pass so erf runs once per element.
    var slope = [Float](unsafeUninitializedCapacity: x.values.count) { _, count in count = x.values.count }
    x.values.withUnsafeBufferPointer { x in
        y.values.withUnsafeMutableBufferPointer { y in
            slope.withUnsafeMutableBufferPointer { slope in
                parallelChunks(x.count, minimumChunk: 4096) { _, range in for i in range {
                    let v = x[i]
                    let cdf = 0.5 * (1 + erf(v * 0.70710678))
                    y[i] = v * cdf
                    slope[i] = cdf + v * 0.39894228 * exp(-0.5 * v * v)
                } }
            }
        }
    }
    return (y, { dy in
        var dx = dy
        dx.values.withUnsafeMutableBufferPointer { dx in
            slope.withUnsafeBufferPointer { slope in
                for i in dx.indices { dx[i] *= slope[i] }
            }
        }
        return dx
    })
}

func relu(_ x: Matrix) -> (Matrix, Pullback) {
    var y = x
    y.values.withUnsafeMutableBufferPointer { y in
        for i in y.indices where y[i] < 0 { y[i] = 0 }
    }
    return (y, { dy in
        var dx = dy
        dx.values.withUnsafeMutableBufferPointer { dx in
            x.values.withUnsafeBufferPointer { x in
                for i in dx.indices where x[i] <= 0 { dx[i] = 0 }
            }
        }
        return dx
    })
}

/// Side-by-side concatenation of the columns of matrices with equal row counts.
func concatenateColumns(_ parts: [Matrix]) -> (Matrix, Pullback) {
    let rows = parts[0].rows
    let widths = parts.map(\.columns)
    let total = widths.reduce(0, +)
    var y = Matrix(uninitialized: rows, total)
    y.values.withUnsafeMutableBufferPointer { y in
        var offset = 0
        for part in parts {
            precondition(part.rows == rows)
            part.values.withUnsafeBufferPointer { p in
                for r in 0..<rows {
                    (y.baseAddress! + r * total + offset).update(from: p.baseAddress! + r * part.columns, count: part.columns)
                }
            }
            offset += part.columns
        }
    }
    return (y, { dy in
        // The pullback of a concatenation returns the gradients side by side too; callers split them.
        dy
    })
}

/// Splits columns back into parts of the given widths (the pullback side of `concatenateColumns`).
func splitColumns(_ matrix: Matrix, widths: [Int]) -> [Matrix] {
    var offset = 0
    return widths.map { width in
        var part = Matrix(uninitialized: matrix.rows, width)
        part.values.withUnsafeMutableBufferPointer { p in
            matrix.values.withUnsafeBufferPointer { m in
                for r in 0..<matrix.rows {
                    (p.baseAddress! + r * width).update(from: m.baseAddress! + r * matrix.columns + offset, count: width)
                }
            }
        }
        offset += width
        return part
    }
}

/// Bilinear resizing of channels-last maps [batch, height, width, channels], with PyTorch's
/// align_corners=false sampling (half-pixel centres, clamped at the border).
func resizeBilinear(_ x: Matrix, batch: Int, from source: (height: Int, width: Int),
                    to target: (height: Int, width: Int), _ context: ForwardContext) -> (Matrix, Pullback) {
    let channels = x.columns
    precondition(x.rows == batch * source.height * source.width)
    struct Tap { var low: Int; var high: Int; var weightHigh: Float }
    func taps(_ inSize: Int, _ outSize: Int) -> [Tap] {
        let scale = Float(inSize) / Float(outSize)
        return (0..<outSize).map { o in
            let position = max(0, (Float(o) + 0.5) * scale - 0.5)
            let low = min(Int(position), inSize - 1)
            let high = min(low + 1, inSize - 1)
            return Tap(low: low, high: high, weightHigh: position - Float(low))
        }
    }
    let rowTaps = taps(source.height, target.height), columnTaps = taps(source.width, target.width)
    /// Weights and element offsets of the four source pixels of one output pixel.
    func corners(_ b: Int, _ rt: Tap, _ ct: Tap) -> ((Float, Float, Float, Float), (Int, Int, Int, Int)) {
        let (h, v) = (ct.weightHigh, rt.weightHigh)
        func offset(_ row: Int, _ column: Int) -> Int { ((b * source.height + row) * source.width + column) * channels }
        return (((1 - v) * (1 - h), (1 - v) * h, v * (1 - h), v * h),
                (offset(rt.low, ct.low), offset(rt.low, ct.high), offset(rt.high, ct.low), offset(rt.high, ct.high)))
    }
    let outRows = batch * target.height * target.width
    context.count(outRows * channels * 4)
    var y = Matrix(uninitialized: outRows, channels)
    x.values.withUnsafeBufferPointer { x in
        y.values.withUnsafeMutableBufferPointer { y in
            parallelChunks(batch * target.height, minimumChunk: 8) { _, range in for line in range {
                let b = line / target.height, i = line % target.height, rt = rowTaps[i]
                do {
                    for (j, ct) in columnTaps.enumerated() {
                        let out = y.baseAddress! + ((b * target.height + i) * target.width + j) * channels
                        let (w, p) = corners(b, rt, ct)
                        let (p00, p01, p10, p11) = (x.baseAddress! + p.0, x.baseAddress! + p.1,
                                                    x.baseAddress! + p.2, x.baseAddress! + p.3)
                        for c in 0..<channels {
                            out[c] = w.0 * p00[c] + w.1 * p01[c] + w.2 * p10[c] + w.3 * p11[c]
                        }
                    }
                }
            } }
        }
    }
    return (y, { dy in
        var dx = Matrix(zeros: x.rows, channels)
        dy.values.withUnsafeBufferPointer { dy in
            dx.values.withUnsafeMutableBufferPointer { dx in
                parallelChunks(batch) { _, images in for b in images {
                    for (i, rt) in rowTaps.enumerated() {
                        for (j, ct) in columnTaps.enumerated() {
                            let g = dy.baseAddress! + ((b * target.height + i) * target.width + j) * channels
                            let (w, p) = corners(b, rt, ct)
                            let (p00, p01, p10, p11) = (dx.baseAddress! + p.0, dx.baseAddress! + p.1,
                                                        dx.baseAddress! + p.2, dx.baseAddress! + p.3)
                            for c in 0..<channels {
                                p00[c] += w.0 * g[c]; p01[c] += w.1 * g[c]; p10[c] += w.2 * g[c]; p11[c] += w.3 * g[c]
                            }
                        }
                    }
                } }
            }
        }
        return dx
    })
}
