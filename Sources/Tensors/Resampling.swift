/// Bilinear resizing of channels-last maps [images, height, width, channels] with PyTorch's
/// align_corners=false sampling; the kernel behind `upsampleBilinear` and the engine's layers.
/// Split over the compute threads by output rows (forward) and by images (backward), so every
/// element is computed in the same order at any thread count.
public struct BilinearResize: Sendable {
    public let images: Int, channels: Int
    public let source: (height: Int, width: Int), target: (height: Int, width: Int)
    let rows: BilinearTaps, columns: BilinearTaps

    public init(images: Int, channels: Int, from source: (height: Int, width: Int), to target: (height: Int, width: Int)) {
        self.images = images; self.channels = channels; self.source = source; self.target = target
        rows = BilinearTaps(input: source.height, output: target.height)
        columns = BilinearTaps(input: source.width, output: target.width)
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let (height, width, channels) = (target.height, target.width, channels)
        withCorners { corners in
            parallelChunks(images * height, minimumChunk: max(1, (1 << 14) / max(1, width * channels))) { _, lines in
                for line in lines {
                    let b = line / height, i = line % height
                    for j in 0..<width {
                        let (p, w) = corners.of(b, i, j)
                        let (p00, p01, p10, p11) = (x + p.0, x + p.1, x + p.2, x + p.3)
                        let out = y + (line * width + j) * channels
                        // Per element w0 a + w1 b + w2 c + w3 d, left to right, 8 channels at a time.
                        var c = 0
                        while c + 8 <= channels {
                            store8(w.0 * load8(p00, c, 8) + w.1 * load8(p01, c, 8) + w.2 * load8(p10, c, 8)
                                   + w.3 * load8(p11, c, 8), out, c, 8)
                            c += 8
                        }
                        while c < channels { out[c] = w.0 * p00[c] + w.1 * p01[c] + w.2 * p10[c] + w.3 * p11[c]; c += 1 }
                    }
                }
            }
        }
    }

    /// dx += the adjoint of `forward` applied to dy.
    public func backward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        let (height, width, channels) = (target.height, target.width, channels)
        withCorners { corners in
            // An image's taps scatter into that image only, so images are the unit of parallel
            // work. The four taps add in this order per element, also where they coincide at the
            // border, 8 channels at a time (a pixel's channels never overlap another tap's).
            parallelChunks(images, minimumChunk: max(1, (1 << 14) / max(1, height * width * channels))) { _, chunk in
                for b in chunk {
                    for i in 0..<height {
                        for j in 0..<width {
                            let (p, w) = corners.of(b, i, j)
                            let (p00, p01, p10, p11) = (dx + p.0, dx + p.1, dx + p.2, dx + p.3)
                            let g = dy + ((b * height + i) * width + j) * channels
                            var c = 0
                            while c + 8 <= channels {
                                let gc = load8(g, c, 8)
                                store8(load8(p00, c, 8) + w.0 * gc, p00, c, 8)
                                store8(load8(p01, c, 8) + w.1 * gc, p01, c, 8)
                                store8(load8(p10, c, 8) + w.2 * gc, p10, c, 8)
                                store8(load8(p11, c, 8) + w.3 * gc, p11, c, 8)
                                c += 8
                            }
                            while c < channels {
                                p00[c] += w.0 * g[c]; p01[c] += w.1 * g[c]; p10[c] += w.2 * g[c]; p11[c] += w.3 * g[c]
                                c += 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// Both axes' taps as pointers (no bounds checks in the kernels' inner loops).
    private func withCorners<R>(_ body: (Corners) -> R) -> R {
        rows.low.withUnsafeBufferPointer { rowLow in
            rows.high.withUnsafeBufferPointer { rowHigh in
                rows.highWeight.withUnsafeBufferPointer { rowWeight in
                    columns.low.withUnsafeBufferPointer { columnLow in
                        columns.high.withUnsafeBufferPointer { columnHigh in
                            columns.highWeight.withUnsafeBufferPointer { columnWeight in
                                body(Corners(rowLow: rowLow.baseAddress!, rowHigh: rowHigh.baseAddress!,
                                             rowWeight: rowWeight.baseAddress!, columnLow: columnLow.baseAddress!,
                                             columnHigh: columnHigh.baseAddress!, columnWeight: columnWeight.baseAddress!,
                                             channels: channels, sourceRow: source.width * channels,
                                             sourceImage: source.height * source.width * channels))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The four source pixels and weights of an output pixel, from both axes' taps.
private struct Corners {
    let rowLow: UnsafePointer<Int>, rowHigh: UnsafePointer<Int>, rowWeight: UnsafePointer<Float>
    let columnLow: UnsafePointer<Int>, columnHigh: UnsafePointer<Int>, columnWeight: UnsafePointer<Float>
    let channels: Int, sourceRow: Int, sourceImage: Int

    /// The offsets of output pixel (i, j) of image b's four source pixels (top left, top right,
    /// bottom left, bottom right) and their weights.
    @inline(__always)
    func of(_ b: Int, _ i: Int, _ j: Int) -> (offsets: (Int, Int, Int, Int), weights: (Float, Float, Float, Float)) {
        let (v, h) = (rowWeight[i], columnWeight[j])
        let top = b * sourceImage + rowLow[i] * sourceRow, bottom = b * sourceImage + rowHigh[i] * sourceRow
        let left = columnLow[j] * channels, right = columnHigh[j] * channels
        return ((top + left, top + right, bottom + left, bottom + right),
                ((1 - v) * (1 - h), (1 - v) * h, v * (1 - h), v * h))
    }
}

/// Per output index along one axis: the two source indices and their weights.
struct BilinearTaps: Sendable {
    var low: [Int] = [], high: [Int] = [], highWeight: [Float] = []

    init(input: Int, output: Int) {
        let scale = Float(input) / Float(output)
        for i in 0..<output {
            let source = max((Float(i) + 0.5) * scale - 0.5, 0)
            let l = min(Int(source), input - 1)
            low.append(l)
            high.append(min(l + 1, input - 1))
            highWeight.append(source - Float(l))
        }
    }
}
