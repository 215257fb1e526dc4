/// Achieved speed of one building block, forward and backward, at given shapes.
public struct BlockMeasurement: Sendable, CustomStringConvertible {
    public var name: String
    public var shapes: String
    /// Floating-point operations of one forward + backward (2 per multiply-add).
    public var flops: Double
    public var seconds: Double
    public var gflops: Double { flops / seconds / 1e9 }

    public var description: String {
        let ms = (seconds * 1000 * 100).rounded() / 100, g = (gflops * 10).rounded() / 10
        return "\(name) [\(shapes)]: \(ms) ms per forward+backward, \(g) GFLOP/s"
    }
}

/// Times forward + backward of the library's GEMM-bound building blocks at Swin-T
/// stage-1 shapes (224x224 input, `batch` images) and of the decoder convolutions:
/// the mean over `repeats` runs after one warm-up run (which also fills the pool).
/// Uses the current OpenBLAS thread count.
public func measureBuildingBlocks(batch: Int = 4, repeats: Int = 5) -> [BlockMeasurement] {
    var rng = SeededRandom(seed: 3)
    func time(_ name: String, _ shapes: String, flops: Double, _ step: () -> Void) -> BlockMeasurement {
        step()
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<repeats { step() }
        return BlockMeasurement(name: name, shapes: shapes, flops: flops,
                                seconds: (clock.now - start).inSeconds / Double(repeats))
    }
    var results: [BlockMeasurement] = []

    // Swin-T stage 1: 56x56 tokens of C = 96, windows of 7x7, 3 heads of 32.
    let tokens = batch * 56 * 56, c = 96
    let x = Tensor.normal([batch, 56, 56, c], using: &rng, requiresGrad: true)
    let qkvWeight = Tensor.normal([3 * c, c], std: 0.02, using: &rng, requiresGrad: true)
    let qkvBias = Tensor.zeros([3 * c], requiresGrad: true)
    results.append(time("linear (qkv)", "\(tokens)x\(c) -> \(3 * c)", flops: 3 * 2 * Double(tokens * c * 3 * c)) {
        linear(x, weight: qkvWeight, bias: qkvBias).sum().backward()
    })

    let windows = batch * 64, heads = 3, n = 49, d = 32
    let q = Tensor.normal([windows, heads, n, d], using: &rng, requiresGrad: true)
    let k = Tensor.normal([windows, heads, n, d], using: &rng, requiresGrad: true)
    let v = Tensor.normal([windows, heads, n, d], using: &rng, requiresGrad: true)
    let mask = shiftedWindowMask(height: 56, width: 56, window: 7, shift: 3).reshaped([1, 64, 1, n, n])
    let attentionFlops = 3 * 2 * 2 * Double(windows * heads * n * n * d)
    results.append(time("shifted window attention", "\(windows) windows x \(heads) heads, N \(n), d \(d)",
                        flops: attentionFlops) {
        let logits = matmul(q, k, transposeB: true, scale: 1 / Float(d).squareRoot())
        let masked = (logits.reshaped([batch, 64, heads, n, n]) + mask).reshaped([windows, heads, n, n])
        matmul(softmax(masked), v).sum().backward()
    })
    results.append(time("window partition + reverse (shift 3)", "\(batch)x56x56x\(c)", flops: 0) {
        windowReverse(windowPartition(x, window: 7, shift: 3), batch: batch, height: 56, width: 56,
                      window: 7, shift: 3).sum().backward()
    })
    let gamma = Tensor.ones([c], requiresGrad: true), beta = Tensor.zeros([c], requiresGrad: true)
    results.append(time("layerNorm + gelu", "\(tokens)x\(c)", flops: 0) {
        gelu(layerNorm(x, weight: gamma, bias: beta)).sum().backward()
    })

    // Decoder-sized convolutions, NCHW at 1/4 of 224.
    let image = Tensor.normal([batch, 64, 56, 56], using: &rng, requiresGrad: true)
    let kernel3 = Tensor.normal([64, 64, 3, 3], std: 0.05, using: &rng, requiresGrad: true)
    let pixels = Double(batch * 56 * 56)
    results.append(time("conv2d 3x3 dilation 2", "\(batch)x64x56x56 -> 64", flops: 3 * 2 * pixels * 64 * 64 * 9) {
        conv2d(image, weight: kernel3, Conv2dGeometry(padding: 2, dilation: 2)).sum().backward()
    })
    let kernel1 = Tensor.normal([64, 64, 1, 1], std: 0.05, using: &rng, requiresGrad: true)
    results.append(time("conv2d 1x1", "\(batch)x64x56x56 -> 64", flops: 3 * 2 * pixels * 64 * 64) {
        conv2d(image, weight: kernel1).sum().backward()
    })
    let filter = Tensor.ones([64, 56, 29], requiresGrad: true)
    results.append(time("rfft2 -> filter -> irfft2", "\(batch)x64x56x56", flops: 0) {
        irfft2(multiplySpectrum(rfft2(image), by: filter), width: 56).sum().backward()
    })
    return results
}
