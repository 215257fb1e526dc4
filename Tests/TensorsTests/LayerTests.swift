import Foundation
import Testing
@testable import Tensors

@Suite struct LayerTests {
    /// Direct convolution by the definition, for comparison.
    func naiveConv(_ x: Tensor, _ w: Tensor, _ bias: Tensor, _ g: Conv2dGeometry) -> [Float] {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let ho = g.outputSize(input: h, kernel: kh), wo = g.outputSize(input: wd, kernel: kw)
        var out: [Float] = []
        for b in 0..<n { for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
            var total = bias.data[oc]
            for ic in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * g.stride - g.padding + ky * g.dilation, ix = ox * g.stride - g.padding + kx * g.dilation
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                total += x.data[((b * c + ic) * h + iy) * wd + ix] * w.data[((oc * c + ic) * kh + ky) * kw + kx]
            } } }
            out.append(total)
        } } } }
        return out
    }

    @Test func dilatedConvolutionPicksTheDilatedTap() {
        // Only the top-left tap is 1: with dilation 2 and padding 2, out(i, j) = x(i-2, j-2).
        let x = Tensor((0..<25).map(Float.init), shape: [1, 1, 5, 5])
        var taps = [Float](repeating: 0, count: 9)
        taps[0] = 1
        let y = conv2d(x, weight: Tensor(taps, shape: [1, 1, 3, 3]), Conv2dGeometry(padding: 2, dilation: 2))
        #expect(y.shape == [1, 1, 5, 5])
        #expect(y.values[2 * 5 + 3] == 1)  // x(0, 1)
        #expect(y.values[4 * 5 + 4] == 12)  // x(2, 2)
        #expect(y.values[1 * 5 + 4] == 0)  // above the image
    }

    @Test(arguments: [Conv2dGeometry(), Conv2dGeometry(stride: 2, padding: 1), Conv2dGeometry(padding: 2, dilation: 2)])
    func convolutionMatchesTheDefinition(geometry: Conv2dGeometry) {
        let x = constant([2, 3, 6, 5], seed: 50), w = constant([4, 3, 3, 3], seed: 51), b = constant([4], seed: 52)
        expectClose(conv2d(x, weight: w, bias: b, geometry).values, naiveConv(x, w, b, geometry), tolerance: 1e-5)
        let w1 = constant([4, 3, 1, 1], seed: 53)
        expectClose(conv2d(x, weight: w1, bias: b, geometry).values, naiveConv(x, w1, b, geometry), tolerance: 1e-5)
    }

    @Test func convolutionGradients() {
        let x = parameter([2, 2, 5, 4], seed: 54), b = parameter([3], seed: 56)
        for geometry in [Conv2dGeometry(stride: 2, padding: 1), Conv2dGeometry(padding: 2, dilation: 2)] {
            let w = parameter([3, 2, 3, 3], seed: 55)
            expectGradients([x, w, b]) { t in conv2d(t[0], weight: t[1], bias: t[2], geometry) }
        }
        let w1 = parameter([3, 2, 1, 1], seed: 57)
        expectGradients([x, w1, b]) { t in conv2d(t[0], weight: t[1], bias: t[2]) }
    }

    @Test func bilinearMatchesPyTorchOnTwoByTwo() {
        // torch.nn.functional.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4),
        //                                 mode="bilinear", align_corners=False)
        let y = upsampleBilinear(Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2]), height: 4, width: 4)
        expectClose(y.values, [1, 1.25, 1.75, 2,
                               1.5, 1.75, 2.25, 2.5,
                               2.5, 2.75, 3.25, 3.5,
                               3, 3.25, 3.75, 4])
    }

    @Test func bilinearGradients() {
        let x = parameter([1, 2, 3, 2], seed: 58)
        expectGradients([x]) { t in upsampleBilinear(t[0], height: 7, width: 5) }
        expectGradients([x]) { t in upsampleBilinear(t[0], height: 2, width: 1) }
    }

    @Test func windowPartitionRollsThenSplits() {
        let x = Tensor((0..<16).map(Float.init), shape: [1, 4, 4, 1])
        let windows = windowPartition(x, window: 2, shift: 1)
        #expect(windows.shape == [4, 4, 1])
        // torch.roll(x, (-1, -1)): rolled(i, j) = x((i + 1) % 4, (j + 1) % 4).
        #expect(Array(windows.values[0..<4]) == [5, 6, 9, 10])
        #expect(Array(windows.values[12..<16]) == [15, 12, 3, 0])
        let back = windowReverse(windows, batch: 1, height: 4, width: 4, window: 2, shift: 1)
        #expect(back.values == x.values)
    }

    @Test func shiftedWindowMaskSeparatesRegions() {
        let mask = shiftedWindowMask(height: 4, width: 4, window: 2, shift: 1)
        #expect(mask.shape == [4, 4, 4])
        let m = mask.values
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

    @Test func patchMergeOrderIsTimms() {
        let x = Tensor([0, 10, 1, 11, 2, 12, 3, 13], shape: [1, 2, 2, 2])  // pixel (h, w) = 2h + w, channels v, v + 10
        #expect(patchMergeGather(x).values == [0, 10, 2, 12, 1, 11, 3, 13])
    }

    @Test func windowGradients() {
        let x = parameter([2, 4, 4, 3], seed: 59)
        expectGradients([x]) { t in windowPartition(t[0], window: 2, shift: 1) }
        let w = parameter([8, 4, 3], seed: 60)
        expectGradients([w]) { t in windowReverse(t[0], batch: 2, height: 4, width: 4, window: 2, shift: 1) }
        expectGradients([x]) { t in patchMergeGather(t[0]) }
    }
}

@Suite struct PointwiseAccuracyTests {
    /// Absolute bound near 0 and above (a few ulp of the rational erf times |x| / 2),
    /// relative in the negative tail, where GELU uses erfc. (The tanh approximation
    /// of GELU would be off by ~1e-3.)
    @Test func geluMatchesTheErfDefinition() {
        let grid = (-1200...1200).map { Float($0) / 200 }  // -6 ... 6
        let y = gelu(Tensor(grid, shape: [grid.count])).values
        for (x, v) in zip(grid, y) {
            let exact = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            #expect(abs(Double(v) - exact) <= (x < -3 ? 1e-5 * abs(exact) : 5e-7 + 2e-7 * abs(exact)), "gelu(\(x)) = \(v), exact \(exact)")
        }
    }
}

@Suite struct GeluDerivativeTests {
    @Test func geluDerivativeMatchesPhiPlusXPhi() {
        let grid = (-1200...1200).map { Float($0) / 200 }
        let x = Tensor(grid, shape: [grid.count], requiresGrad: true)
        gelu(x).sum().backward()
        for (v, g) in zip(grid, x.gradValues) {
            let d = Double(v)
            let exact = 0.5 * erfc(-d / 2.0.squareRoot()) + d * exp(-0.5 * d * d) / (2 * Double.pi).squareRoot()
            #expect(abs(Double(g) - exact) <= 1e-6 + 1e-6 * abs(exact), "gelu'(\(v)) = \(g), exact \(exact)")
        }
    }
}

@Suite struct FastExponentialTests {
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
        // Channel 0 holds 1, 2, 3, 6 over batch and pixels: mean 3, biased variance 3.5, unbiased 14/3.
        let x = Tensor([1, 2, 10, 10, 3, 6, 20, 20], shape: [2, 2, 1, 2])
        let mean = Tensor.zeros([2]), variance = Tensor.ones([2])
        let y = batchNorm2d(x, weight: nil, bias: nil, runningMean: mean, runningVariance: variance, training: true)
        expectClose(mean.values, [0.3, 1.5])
        expectClose([variance.values[0]], [0.9 + 0.1 * 14 / 3])
        let rstd = 1 / (3.5 + 1e-5 as Float).squareRoot()
        expectClose([y.values[0], y.values[5]], [-2 * rstd, 3 * rstd])
        let evaluated = batchNorm2d(x, weight: nil, bias: nil, runningMean: mean, runningVariance: variance, training: false)
        expectClose([evaluated.values[0]], [(1 - 0.3) / (variance.values[0] + 1e-5).squareRoot()])
    }

    @Test func layerNormAndSoftmaxValues() {
        let x = Tensor([1, 2, 3, 4], shape: [1, 4])
        let rstd = 1 / (1.25 + 1e-5 as Float).squareRoot()
        expectClose(layerNorm(x, weight: nil, bias: nil).values, [-1.5 * rstd, -0.5 * rstd, 0.5 * rstd, 1.5 * rstd])
        let e = [1, 2, 3, 4].map { exp(Float($0)) }, total = e.reduce(0, +)
        expectClose(softmax(x).values, e.map { $0 / total }, tolerance: 1e-6)
    }
}
