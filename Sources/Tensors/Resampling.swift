/// Bilinear resize of NCHW `x` to `height` x `width` with PyTorch's
/// `F.interpolate(mode="bilinear", align_corners=False)` semantics (given a size):
/// output pixel centres map to source coordinate (i + 0.5) * in/out - 0.5, clamped
/// at 0; the right/bottom neighbour is clamped to the last pixel. No antialiasing.
public func upsampleBilinear(_ x: Tensor, height: Int, width: Int) -> Tensor {
    precondition(x.rank == 4, "upsampleBilinear needs NCHW, got \(x.shape)")
    let planes = x.shape[0] * x.shape[1], inH = x.shape[2], inW = x.shape[3]
    let rows = BilinearTaps(input: inH, output: height), cols = BilinearTaps(input: inW, output: width)
    let y = Tensor(uninitialized: [x.shape[0], x.shape[1], height, width])
    for p in 0..<planes {
        let src = x.data + p * inH * inW, dst = y.data + p * height * width
        for oy in 0..<height {
            let r0 = src + rows.low[oy] * inW, r1 = src + rows.high[oy] * inW
            let wy0 = rows.lowWeight[oy], wy1 = rows.highWeight[oy]
            for ox in 0..<width {
                let c0 = cols.low[ox], c1 = cols.high[ox], wx0 = cols.lowWeight[ox], wx1 = cols.highWeight[ox]
                dst[oy * width + ox] = wy0 * (wx0 * r0[c0] + wx1 * r0[c1]) + wy1 * (wx0 * r1[c0] + wx1 * r1[c1])
            }
        }
    }
    y.record(x) { y in
        guard let gx = x.gradSink() else { return }
        let gy = y.grad!
        for p in 0..<planes {
            let g = gy + p * height * width, dst = gx + p * inH * inW
            for oy in 0..<height {
                let r0 = dst + rows.low[oy] * inW, r1 = dst + rows.high[oy] * inW
                let wy0 = rows.lowWeight[oy], wy1 = rows.highWeight[oy]
                for ox in 0..<width {
                    let c0 = cols.low[ox], c1 = cols.high[ox], wx0 = cols.lowWeight[ox], wx1 = cols.highWeight[ox]
                    let v = g[oy * width + ox]
                    r0[c0] += wy0 * wx0 * v
                    r0[c1] += wy0 * wx1 * v
                    r1[c0] += wy1 * wx0 * v
                    r1[c1] += wy1 * wx1 * v
                }
            }
        }
    }
    return y
}

/// Per output index along one axis: the two source indices and their weights.
struct BilinearTaps {
    var low: [Int] = [], high: [Int] = [], lowWeight: [Float] = [], highWeight: [Float] = []

    init(input: Int, output: Int) {
        let scale = Float(input) / Float(output)
        for i in 0..<output {
            let source = max((Float(i) + 0.5) * scale - 0.5, 0)
            let l = min(Int(source), input - 1)
            let lambda = source - Float(l)
            low.append(l)
            high.append(min(l + 1, input - 1))
            lowWeight.append(1 - lambda)
            highWeight.append(lambda)
        }
    }
}
