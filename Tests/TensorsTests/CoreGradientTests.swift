import Testing
@testable import Tensors

@Suite struct CoreGradientTests {
    @Test func addSubtractMultiplyWithBroadcasting() {
        let a = parameter([2, 3, 4], seed: 1), b = parameter([3, 1], seed: 2), c = parameter([4], seed: 3)
        expectGradients([a, b, c]) { x in (x[0] + x[1]) * x[2] - x[1] * x[0] }
    }

    @Test func scalarAffine() {
        let a = parameter([5], seed: 4)
        expectGradients([a]) { x in -(x[0] * 3 + 1) }
    }

    @Test func matmulEveryTransposeCombination() {
        for ta in [false, true] {
            for tb in [false, true] {
                let a = parameter(ta ? [2, 4, 3] : [2, 3, 4], seed: 5)
                let b = parameter(tb ? [2, 5, 4] : [2, 4, 5], seed: 6)
                expectGradients([a, b]) { x in matmul(x[0], x[1], transposeA: ta, transposeB: tb) }
            }
        }
    }

    @Test func linearWithFoldedBatchAndBias() {
        let x = parameter([2, 3, 4], seed: 7), w = parameter([5, 4], seed: 8), b = parameter([5], seed: 9)
        expectGradients([x, w, b]) { t in linear(t[0], weight: t[1], bias: t[2]) }
    }

    @Test func frozenWeightGetsNoGradientBuffer() {
        let x = parameter([2, 4], seed: 10), w = constant([3, 4], seed: 11)
        linear(x, weight: w).sum().backward()
        #expect(w.grad == nil)
        #expect(x.grad != nil)
    }

    @Test func activations() {
        let x = parameter([3, 5], seed: 12, low: -2, high: 2)
        expectGradients([x]) { t in gelu(t[0]) }
        expectGradients([x]) { t in sigmoid(t[0]) }
        expectGradients([parameter([7], seed: 13, low: 0.1, high: 1)]) { t in relu(t[0]) }
        expectGradients([parameter([7], seed: 14, low: -1, high: -0.1)]) { t in relu(t[0]) }
    }

    @Test func softmaxAndLayerNorm() {
        let x = parameter([2, 3, 6], seed: 15, low: -2, high: 2)
        expectGradients([x]) { t in softmax(t[0]) }
        let w = parameter([6], seed: 16), b = parameter([6], seed: 17)
        expectGradients([x, w, b]) { t in layerNorm(t[0], weight: t[1], bias: t[2]) }
    }

    @Test func batchNormTrainingAndEvaluation() {
        let x = parameter([2, 3, 2, 2], seed: 18), w = parameter([3], seed: 19), b = parameter([3], seed: 20)
        for training in [true, false] {
            let mean = Tensor.zeros([3]), variance = Tensor.ones([3])
            expectGradients([x, w, b]) { t in
                batchNorm2d(t[0], weight: t[1], bias: t[2], runningMean: mean.detached(),
                            runningVariance: variance.detached(), training: training)
            }
        }
    }

    @Test func shapeOps() {
        let x = parameter([2, 3, 4], seed: 21)
        expectGradients([x]) { t in t[0].reshaped([4, -1]) * t[0].reshaped([4, 6]) }
        expectGradients([x]) { t in t[0].permuted([2, 0, 1]) }
        expectGradients([x]) { t in t[0].transposed(0, 2) }
        expectGradients([x]) { t in t[0].slice(axis: 1, 1..<3) }
        let y = parameter([2, 2, 4], seed: 22)
        expectGradients([x, y]) { t in concat([t[0], t[1], t[0]], axis: 1) }
        let table = parameter([5, 3], seed: 23)
        expectGradients([table]) { t in gatherRows(t[0], [4, 0, 4, 2]) }
    }

    @Test func reductions() {
        let x = parameter([2, 3, 4], seed: 24)
        expectGradients([x]) { t in t[0].sum(axis: 1) }
        expectGradients([x]) { t in t[0].mean(axis: -1) }
        expectGradients([x]) { t in t[0].mean() }
        expectGradients([x]) { t in t[0].sum() }
    }
}
