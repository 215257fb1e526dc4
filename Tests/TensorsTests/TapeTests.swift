import Testing
@testable import Tensors

/// x^2 with a deliberately wrong backward (missing the factor 2).
func wronglyDifferentiatedSquare(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    for i in 0..<x.count { y.data[i] = x.data[i] * x.data[i] }
    y.record(x) { y in
        let gx = x.gradSink()!
        for i in 0..<x.count { gx[i] += y.grad![i] * x.data[i] }
    }
    return y
}

@Suite struct TapeTests {
    @Test func gradcheckCatchesAWrongBackward() {
        let result = gradcheck([parameter([4], seed: 70, low: 0.5, high: 1)]) { t in wronglyDifferentiatedSquare(t[0]) }
        #expect(!result.passed)
    }

    @Test func sharedSubexpressionsAccumulate() {
        let x = Tensor([3], shape: [1], requiresGrad: true)
        let y = x * x
        (y + y * x).sum().backward()  // d/dx (x^2 + x^3) = 2x + 3x^2 = 33
        #expect(x.gradValues == [33])
    }

    @Test func recordingCanBeDisabled() {
        let x = parameter([3], seed: 71)
        let y = GradientRecording.disabled { gelu(x) * x }
        #expect(!y.requiresGrad && !y.hasHistory)
    }

    @Test func backwardReleasesTheGraph() {
        let x = parameter([3], seed: 72)
        let hidden = gelu(x)
        let loss = (hidden * hidden).sum()
        loss.backward()
        #expect(!hidden.hasHistory && hidden.grad == nil)
        #expect(x.grad != nil)
    }

    @Test func sameSeedGivesBitIdenticalResults() {
        func run() -> ([Float], [Float]) {
            var rng = SeededRandom(seed: 2024)
            let x = Tensor.normal([2, 3, 8, 8], using: &rng)
            let w = Tensor.normal([4, 3, 3, 3], std: 0.2, using: &rng, requiresGrad: true)
            let filter = Tensor.uniform([4, 8, 5], low: 0.5, high: 1.5, using: &rng, requiresGrad: true)
            let features = relu(conv2d(x, weight: w, Conv2dGeometry(padding: 1)))
            let filtered = irfft2(multiplySpectrum(rfft2(features), by: filter), width: 8)
            let tokens = filtered.reshaped([2, 4, 64]).transposed(1, 2)
            let attention = softmax(matmul(tokens, tokens, transposeB: true))
            let logits = matmul(attention, tokens).transposed(1, 2).reshaped([2, 4, 8, 8])
            let labels = (0..<128).map { Float($0 % 4) }
            let loss = crossEntropy(logits, labels: labels)
            loss.backward()
            return (w.gradValues + filter.gradValues, [loss.item])
        }
        let first = run(), second = run()
        #expect(first.0 == second.0 && first.1 == second.1)
    }

    @Test func splitStreamsDiffer() {
        let parent = SeededRandom(seed: 1)
        var a = parent.split(1), b = parent.split(2), a2 = parent.split(1)
        let va = a.next()
        #expect(va != b.next())
        #expect(va == a2.next())
    }
}

@Suite struct RetainedGraphTests {
    @Test func retainedGraphBackpropagatesTwice() {
        let x = parameter([3], seed: 73)
        let shared = gelu(x)
        let first = (shared * shared).sum(), second = shared.sum()
        first.backward(retainGraph: true)
        let firstGradient = x.gradValues
        x.zeroGrad()
        second.backward(retainGraph: true)
        let secondGradient = x.gradValues
        x.zeroGrad()
        first.backward()
        #expect(x.gradValues == firstGradient)  // no stale intermediate gradient leaks in
        #expect(secondGradient != firstGradient)
    }

    @Test func scaledMatmulGradients() {
        let a = parameter([2, 3, 4], seed: 74), b = parameter([2, 5, 4], seed: 75)
        expectGradients([a, b]) { t in matmul(t[0], t[1], transposeB: true, scale: 0.35) }
    }
}

@Suite struct ChunkedLoopTests {
    /// Large tensors are split across compute threads; small slices are not. Equal
    /// bits show the split changes nothing.
    @Test func chunkedPointwiseOpsMatchSerialSlices() {
        ComputeThreads.$chunksInThisTask.withValue(3) { pointwiseOpsMatchSerialSlices() }
    }

    private func pointwiseOpsMatchSerialSlices() {
        let x = constant([80, 1250], seed: 76, low: -5, high: 5)
        let whole = x.reshaped([100_000])
        let slices = (0..<10).map { x.slice(axis: 0, ($0 * 8)..<($0 * 8 + 8)) }
        #expect(gelu(whole).values == slices.flatMap { gelu($0).values })
        let rows = x.reshaped([2000, 50])
        #expect(softmax(rows).values == slices.flatMap { softmax($0.reshaped([200, 50])).values })
        #expect(layerNorm(rows, weight: nil, bias: nil).values
                == slices.flatMap { layerNorm($0.reshaped([200, 50]), weight: nil, bias: nil).values })
    }

    @Test func chunkedBackwardMatchesSerialSlices() {
        ComputeThreads.$chunksInThisTask.withValue(3) { backwardMatchesSerialSlices() }
    }

    private func backwardMatchesSerialSlices() {
        let ops: [(Tensor) -> Tensor] = [gelu, softmax, { layerNorm($0, weight: nil, bias: nil) }]
        for op in ops {
            let x = parameter([2000, 50], seed: 77, low: -5, high: 5)
            let weights = constant([2000, 50], seed: 78)
            (op(x) * weights).sum().backward()
            let whole = x.gradValues
            x.zeroGrad()
            for s in 0..<10 {
                let rows = (s * 200)..<(s * 200 + 200)
                (op(x.slice(axis: 0, rows)) * weights.slice(axis: 0, rows)).sum().backward()
            }
            #expect(x.gradValues == whole)
        }
    }
}
