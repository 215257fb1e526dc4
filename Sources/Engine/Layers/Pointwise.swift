import Foundation

/// GELU, the exact form 0.5 x (1 + erf(x / √2)) that PyTorch's nn.GELU uses by default.
func gelu(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
    context.count(x.values.count)
    var y = x
    y.values.withUnsafeMutableBufferPointer { y in
        for i in y.indices { let v = y[i]; y[i] = 0.5 * v * (1 + erf(v * 0.70710678)) }
    }
    return (y, { dy in
        var dx = dy
        dx.values.withUnsafeMutableBufferPointer { dx in
            x.values.withUnsafeBufferPointer { x in
                for i in dx.indices {
                    let v = x[i]
                    let cdf = 0.5 * (1 + erf(v * 0.70710678))
                    let density = 0.39894228 * exp(-0.5 * v * v)
                    dx[i] *= cdf + v * density
                }
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
    var y = Matrix(zeros: rows, total)
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
        var part = Matrix(zeros: matrix.rows, width)
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
    let outRows = batch * target.height * target.width
    context.count(outRows * channels * 4)
    var y = Matrix(zeros: outRows, channels)
    x.values.withUnsafeBufferPointer { x in
        y.values.withUnsafeMutableBufferPointer { y in
            for b in 0..<batch {
                for (i, rt) in rowTaps.enumerated() {
                    for (j, ct) in columnTaps.enumerated() {
                        let out = y.baseAddress! + ((b * target.height + i) * target.width + j) * channels
                        let w00 = (1 - rt.weightHigh) * (1 - ct.weightHigh), w01 = (1 - rt.weightHigh) * ct.weightHigh
                        let w10 = rt.weightHigh * (1 - ct.weightHigh), w11 = rt.weightHigh * ct.weightHigh
                        let p00 = x.baseAddress! + ((b * source.height + rt.low) * source.width + ct.low) * channels
                        let p01 = x.baseAddress! + ((b * source.height + rt.low) * source.width + ct.high) * channels
                        let p10 = x.baseAddress! + ((b * source.height + rt.high) * source.width + ct.low) * channels
                        let p11 = x.baseAddress! + ((b * source.height + rt.high) * source.width + ct.high) * channels
                        for c in 0..<channels {
                            out[c] = w00 * p00[c] + w01 * p01[c] + w10 * p10[c] + w11 * p11[c]
                        }
                    }
                }
            }
        }
    }
    return (y, { dy in
        var dx = Matrix(zeros: x.rows, channels)
        dy.values.withUnsafeBufferPointer { dy in
            dx.values.withUnsafeMutableBufferPointer { dx in
                for b in 0..<batch {
                    for (i, rt) in rowTaps.enumerated() {
                        for (j, ct) in columnTaps.enumerated() {
                            let g = dy.baseAddress! + ((b * target.height + i) * target.width + j) * channels
                            let w00 = (1 - rt.weightHigh) * (1 - ct.weightHigh), w01 = (1 - rt.weightHigh) * ct.weightHigh
                            let w10 = rt.weightHigh * (1 - ct.weightHigh), w11 = rt.weightHigh * ct.weightHigh
                            let p00 = dx.baseAddress! + ((b * source.height + rt.low) * source.width + ct.low) * channels
                            let p01 = dx.baseAddress! + ((b * source.height + rt.low) * source.width + ct.high) * channels
                            let p10 = dx.baseAddress! + ((b * source.height + rt.high) * source.width + ct.low) * channels
                            let p11 = dx.baseAddress! + ((b * source.height + rt.high) * source.width + ct.high) * channels
                            for c in 0..<channels {
                                p00[c] += w00 * g[c]; p01[c] += w01 * g[c]; p10[c] += w10 * g[c]; p11[c] += w11 * g[c]
                            }
                        }
                    }
                }
            }
        }
        return dx
    })
}
