/// Bilinear resize of NCHW `x` to `height` x `width` with PyTorch's
/// `F.interpolate(mode="bilinear", align_corners=False)` semantics (given a size):
/// output pixel centres map to source coordinate (i + 0.5) * in/out - 0.5, clamped
/// at 0; the right/bottom neighbour is clamped to the last pixel. No antialiasing.
public func upsampleBilinear(_ x: Tensor, height: Int, width: Int) -> Tensor {
    precondition(x.rank == 4, "upsampleBilinear needs NCHW, got \(x.shape)")
    // Every (n, c) plane is one single-channel image of the channels-last kernels.
    let resize = BilinearResize(images: x.shape[0] * x.shape[1], channels: 1,
                                from: (x.shape[2], x.shape[3]), to: (height, width))
    let y = Tensor(uninitialized: [x.shape[0], x.shape[1], height, width])
    resize.forward(x.data, y.data)
    y.record(x) { y in
        if let gx = x.gradSink() { resize.backward(y.grad!, gx) }
    }
    return y
}

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

    /// Calls `body(output, p00, p01, p10, p11, weights)` for every output pixel of image `b`'s
    /// output rows `outputRows`, in row-major order: the offsets of the pixel and of its four
    /// source pixels (top left, top right, bottom left, bottom right) and their weights.
    @inline(__always)
    private func forEachPixel(image b: Int, outputRows: Range<Int>,
                              _ body: (Int, Int, Int, Int, Int, (Float, Float, Float, Float)) -> Void) {
        let (sourceWidth, channels) = (source.width, channels)
        rows.low.withUnsafeBufferPointer { rowLow in
        rows.high.withUnsafeBufferPointer { rowHigh in
        rows.highWeight.withUnsafeBufferPointer { rowWeight in
        columns.low.withUnsafeBufferPointer { columnLow in
        columns.high.withUnsafeBufferPointer { columnHigh in
        columns.highWeight.withUnsafeBufferPointer { columnWeight in
            for i in outputRows {
                let v = rowWeight[i]
                let top = (b * source.height + rowLow[i]) * sourceWidth, bottom = (b * source.height + rowHigh[i]) * sourceWidth
                for j in 0..<target.width {
                    let h = columnWeight[j], c0 = columnLow[j], c1 = columnHigh[j]
                    body(((b * target.height + i) * target.width + j) * channels,
                         (top + c0) * channels, (top + c1) * channels, (bottom + c0) * channels, (bottom + c1) * channels,
                         ((1 - v) * (1 - h), (1 - v) * h, v * (1 - h), v * h))
                }
            }
        } } } } } }
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let (height, width, channels) = (target.height, target.width, channels)
        let vectorEnd = channels - channels % 8
        parallelChunks(images * height, minimumChunk: max(1, (1 << 14) / max(1, width * channels))) { _, lines in
            for line in lines {
                forEachPixel(image: line / height, outputRows: (line % height)..<(line % height + 1)) { o, p00, p01, p10, p11, w in
                    let out = y + o
                    var c = 0
                    while c < vectorEnd {
                        let sum = w.0 * load8(x + p00, c, 8) + w.1 * load8(x + p01, c, 8) + w.2 * load8(x + p10, c, 8)
                            + w.3 * load8(x + p11, c, 8)
                        store8(sum, out, c, 8)
                        c += 8
                    }
                    while c < channels {
                        out[c] = w.0 * x[p00 + c] + w.1 * x[p01 + c] + w.2 * x[p10 + c] + w.3 * x[p11 + c]
                        c += 1
                    }
                }
            }
        }
    }

    /// dx += the adjoint of `forward` applied to dy.
    public func backward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        let (height, width, channels) = (target.height, target.width, channels)
        let vectorEnd = channels - channels % 8
        // An image's taps scatter into that image only, so images are the unit of parallel work.
        // The four taps add in this order per element, also where they coincide at the border.
        parallelChunks(images, minimumChunk: max(1, (1 << 14) / max(1, height * width * channels))) { _, chunk in
            for b in chunk {
                forEachPixel(image: b, outputRows: 0..<height) { o, p00, p01, p10, p11, w in
                    let g = dy + o
                    var c = 0
                    while c < vectorEnd {
                        let gc = load8(g, c, 8)
                        store8(load8(dx + p00, c, 8) + w.0 * gc, dx + p00, c, 8)
                        store8(load8(dx + p01, c, 8) + w.1 * gc, dx + p01, c, 8)
                        store8(load8(dx + p10, c, 8) + w.2 * gc, dx + p10, c, 8)
                        store8(load8(dx + p11, c, 8) + w.3 * gc, dx + p11, c, 8)
                        c += 8
                    }
                    while c < channels {
                        dx[p00 + c] += w.0 * g[c]; dx[p01 + c] += w.1 * g[c]; dx[p10 + c] += w.2 * g[c]; dx[p11 + c] += w.3 * g[c]
                        c += 1
                    }
                }
            }
        }
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
