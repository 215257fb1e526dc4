import Foundation
import Testing
@testable import Tensors

// The kernels' values against their definitions (PyTorch's where it has one). Their gradients
// are checked by finite differences through the engine layers that call them
// (Tests/EngineTests/Layers/LayerGradientTests.swift, DecoderHeadTests, SpectralDecoderTests).

@Suite struct ConvolutionKernelTests {
    /// Direct convolution by the definition, for comparison.
    func naiveConv(_ x: [Float], _ w: [Float], _ bias: [Float], _ s: Conv2dShape) -> [Float] {
        let g = s.geometry
        var out: [Float] = []
        for b in 0..<s.n { for oc in 0..<s.o { for oy in 0..<s.ho { for ox in 0..<s.wo {
            var total = bias[oc]
            for ic in 0..<s.c { for ky in 0..<s.kh { for kx in 0..<s.kw {
                let iy = oy * g.stride - g.padding + ky * g.dilation, ix = ox * g.stride - g.padding + kx * g.dilation
                guard iy >= 0, iy < s.h, ix >= 0, ix < s.w else { continue }
                total += x[((b * s.c + ic) * s.h + iy) * s.w + ix] * w[((oc * s.c + ic) * s.kh + ky) * s.kw + kx]
            } } }
            out.append(total)
        } } } }
        return out
    }

    func conv(_ x: [Float], _ w: [Float], _ bias: [Float]?, _ shape: Conv2dShape) -> [Float] {
        var y = [Float](repeating: .nan, count: shape.n * shape.o * shape.ho * shape.wo)
        conv2dForward(x, weight: w, bias: bias, &y, shape)
        return y
    }

    @Test func dilatedConvolutionPicksTheDilatedTap() {
        // Only the top-left tap is 1: with dilation 2 and padding 2, out(i, j) = x(i-2, j-2).
        var taps = [Float](repeating: 0, count: 9)
        taps[0] = 1
        let shape = Conv2dShape(n: 1, c: 1, h: 5, w: 5, o: 1, kh: 3, kw: 3, geometry: Conv2dGeometry(padding: 2, dilation: 2))
        #expect(shape.ho == 5 && shape.wo == 5)
        let y = conv((0..<25).map(Float.init), taps, nil, shape)
        #expect(y[2 * 5 + 3] == 1)  // x(0, 1)
        #expect(y[4 * 5 + 4] == 12)  // x(2, 2)
        #expect(y[1 * 5 + 4] == 0)  // above the image
    }

    @Test(arguments: [Conv2dGeometry(), Conv2dGeometry(stride: 2, padding: 1), Conv2dGeometry(padding: 2, dilation: 2)])
    func convolutionMatchesTheDefinition(geometry: Conv2dGeometry) {
        let x = floats(2 * 3 * 6 * 5, seed: 50), b = floats(4, seed: 52)
        for k in [3, 1] {
            let shape = Conv2dShape(n: 2, c: 3, h: 6, w: 5, o: 4, kh: k, kw: k, geometry: geometry)
            let w = floats(4 * 3 * k * k, seed: 51)
            expectClose(conv(x, w, b, shape), naiveConv(x, w, b, shape), tolerance: 1e-5)
        }
    }
}

@Suite struct SwinKernelTests {
    @Test func bilinearMatchesPyTorchOnTwoByTwo() {
        // torch.nn.functional.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4),
        //                                 mode="bilinear", align_corners=False)
        var y = [Float](repeating: .nan, count: 16)
        BilinearResize(images: 1, channels: 1, from: (2, 2), to: (4, 4)).forward([1, 2, 3, 4], &y)
        expectClose(y, [1, 1.25, 1.75, 2,
                        1.5, 1.75, 2.25, 2.5,
                        2.5, 2.75, 3.25, 3.5,
                        3, 3.25, 3.75, 4])
    }

    @Test func windowMapRollsThenSplits() {
        let map = WindowMap(batch: 1, height: 4, width: 4, window: 2, shift: 1)
        #expect(map.windowCount == 4)
        // torch.roll(x, (-1, -1)): rolled(i, j) = x((i + 1) % 4, (j + 1) % 4).
        #expect(Array(map.sourceRows[0..<4]) == [5, 6, 9, 10])
        #expect(Array(map.sourceRows[12..<16]) == [15, 12, 3, 0])
        #expect(Set(map.sourceRows) == Set(0..<16))
    }

    @Test func shiftedWindowMaskSeparatesRegions() {
        let m = shiftedWindowMask(height: 4, width: 4, window: 2, shift: 1)
        #expect(m.count == 4 * 4 * 4)
        #expect(m[0..<16].allSatisfy { $0 == 0 })  // top-left window: one region
        // Top-right window: columns 2 and 3 are different regions; tokens 0, 2 share column 2.
        let topRight: [Float] = [0, -100, 0, -100,
                                 -100, 0, -100, 0,
                                 0, -100, 0, -100,
                                 -100, 0, -100, 0]
        #expect(Array(m[16..<32]) == topRight)
        // Bottom-right window: four regions.
        for a in 0..<4 { for b in 0..<4 { #expect(m[48 + a * 4 + b] == (a == b ? 0 : -100)) } }
    }
}

@Suite struct PointwiseAccuracyTests {
    let grid = (-1200...1200).map { Float($0) / 200 }  // -6 ... 6

    func gelu(_ x: [Float]) -> (y: [Float], derivative: [Float]) {
        var y = [Float](repeating: .nan, count: x.count), derivative = y
        geluForward(x, &y, derivative: &derivative, count: x.count)
        return (y, derivative)
    }

    /// Absolute bound near 0 and above (a few ulp of the rational erf times |x| / 2),
    /// relative in the negative tail, where GELU uses erfc. (The tanh approximation
    /// of GELU would be off by ~1e-3.)
    @Test func geluMatchesTheErfDefinition() {
        for (x, v) in zip(grid, gelu(grid).y) {
            let exact = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            #expect(abs(Double(v) - exact) <= (x < -3 ? 1e-5 * abs(exact) : 5e-7 + 2e-7 * abs(exact)), "gelu(\(x)) = \(v), exact \(exact)")
        }
    }

    @Test func geluDerivativeMatchesPhiPlusXPhi() {
        var dx = [Float](repeating: 0, count: grid.count)
        geluBackward(derivative: gelu(grid).derivative, [Float](repeating: 1, count: grid.count), &dx, count: grid.count)
        for (v, g) in zip(grid, dx) {
            let d = Double(v)
            let exact = 0.5 * erfc(-d / 2.0.squareRoot()) + d * exp(-0.5 * d * d) / (2 * Double.pi).squareRoot()
            #expect(abs(Double(g) - exact) <= 1e-6 + 1e-6 * abs(exact), "gelu'(\(v)) = \(g), exact \(exact)")
        }
    }

    @Test func fastExpIsWithinAFewUlpOfExp() {
        for step in -8700...8800 {
            let x = Float(step) / 100
            let exact = exp(Double(x)), value = Double(fastExp(SIMD8(repeating: x))[0])
            #expect(abs(value - exact) <= 4e-7 * exact, "fastExp(\(x)) = \(value), exact \(exact)")
        }
    }
}

@Suite struct NormalizationValueTests {
    @Test func batchNormUpdatesRunningStatisticsLikePyTorch() {
        // NCHW [2, 2, 1, 2]; channel 0 holds 1, 2, 3, 6 over batch and pixels: mean 3, biased
        // variance 3.5, unbiased 14/3.
        let x: [Float] = [1, 2, 10, 10, 3, 6, 20, 20], layout = ChannelLayout(nchw: [2, 2, 1, 2])
        var runningMean: [Float] = [0, 0], runningVariance: [Float] = [1, 1]
        var means: [Float] = [0, 0], rstds: [Float] = [0, 0], y = [Float](repeating: .nan, count: 8)
        let ones: [Float] = [1, 1], zeros: [Float] = [0, 0]
        batchNormStatistics(x, layout, means: &means, rstds: &rstds, runningMean: &runningMean,
                            runningVariance: &runningVariance, training: true)
        batchNormForward(x, layout, means: means, rstds: rstds, weight: ones, bias: zeros, &y)
        expectClose(runningMean, [0.3, 1.5])
        expectClose([runningVariance[0]], [0.9 + 0.1 * 14 / 3])
        let rstd = 1 / (3.5 + 1e-5 as Float).squareRoot()
        expectClose([y[0], y[5]], [-2 * rstd, 3 * rstd])
        batchNormStatistics(x, layout, means: &means, rstds: &rstds, runningMean: &runningMean,
                            runningVariance: &runningVariance, training: false)
        batchNormForward(x, layout, means: means, rstds: rstds, weight: ones, bias: zeros, &y)
        expectClose([y[0]], [(1 - 0.3) / (runningVariance[0] + 1e-5).squareRoot()])
    }

    @Test func layerNormAndSoftmaxValues() {
        let x: [Float] = [1, 2, 3, 4]
        var y = [Float](repeating: .nan, count: 4), mean: [Float] = [0], rstd: [Float] = [0]
        layerNormForward(x, weight: [1, 1, 1, 1], bias: [0, 0, 0, 0], &y, means: &mean, rstds: &rstd, rows: 1, channels: 4)
        let r = 1 / (1.25 + 1e-5 as Float).squareRoot()
        expectClose(y, [-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r])
        softmaxForward(x, &y, rows: 1, width: 4)
        let e = x.map { exp($0) }, total = e.reduce(0, +)
        expectClose(y, e.map { $0 / total }, tolerance: 1e-6)
    }
}

/// Kernels split large buffers over the compute threads by rows; equal bits with the serial
/// slices show the split changes nothing.
@Suite struct ChunkedKernelTests {
    @Test func chunkedKernelsMatchSerialSlices() {
        ComputeThreads.$chunksInThisTask.withValue(3) { compare(rows: 2000, width: 50, slices: 10) }
    }

    private func compare(rows: Int, width: Int, slices: Int) {
        let x = floats(rows * width, seed: 76, low: -5, high: 5), dy = floats(rows * width, seed: 78)
        let weight = floats(width, seed: 79, low: 0.5, high: 1.5), bias = floats(width, seed: 80)
        let per = rows / slices * width
        /// `kernel(x, dy, rows)` -> (output, input gradient) on the whole buffer and on each slice.
        func expectSameBits(_ what: String, _ kernel: ([Float], [Float], Int) -> ([Float], [Float])) {
            let whole = kernel(x, dy, rows)
            let parts = (0..<slices).map { s in kernel(Array(x[(s * per)..<((s + 1) * per)]), Array(dy[(s * per)..<((s + 1) * per)]), rows / slices) }
            #expect(whole.0 == parts.flatMap(\.0), "\(what) forward")
            #expect(whole.1 == parts.flatMap(\.1), "\(what) backward")
        }
        expectSameBits("gelu") { x, dy, _ in
            var y = [Float](repeating: 0, count: x.count), derivative = y, dx = y
            geluForward(x, &y, derivative: &derivative, count: x.count)
            geluBackward(derivative: derivative, dy, &dx, count: x.count)
            return (y, dx)
        }
        expectSameBits("softmax") { x, dy, rows in
            var y = [Float](repeating: 0, count: x.count), dx = y
            softmaxForward(x, &y, rows: rows, width: width)
            softmaxBackward(y, dy, &dx, rows: rows, width: width)
            return (y, dx)
        }
        expectSameBits("layerNorm") { x, dy, rows in
            var y = [Float](repeating: 0, count: x.count), dx = y
            var means = [Float](repeating: 0, count: rows), rstds = means
            layerNormForward(x, weight: weight, bias: bias, &y, means: &means, rstds: &rstds, rows: rows, channels: width)
            layerNormBackward(x, weight: weight, means: means, rstds: rstds, outputGradient: dy, inputGradient: &dx,
                              weightGradient: nil, biasGradient: nil, rows: rows, channels: width)
            return (y, dx)
        }
    }
}

@Suite struct SeededRandomTests {
    @Test func splitStreamsDifferAndRepeat() {
        let parent = SeededRandom(seed: 1)
        var a = parent.split(1), b = parent.split(2), a2 = parent.split(1)
        let va = a.next()
        #expect(va != b.next())
        #expect(va == a2.next())
    }
}
