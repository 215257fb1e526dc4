import Foundation
import Testing
@testable import Tensors

// The task-loss kernels' values; their gradients are checked by finite differences through
// the engine's `TaskLoss` (Tests/EngineTests/Layers/LayerGradientTests.swift).
@Suite struct LossKernelTests {
    /// The loss a kernel returns for `predictions`, its gradient discarded.
    func loss(_ predictions: [Float], _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Double) -> Double {
        var gradient = [Float](repeating: .nan, count: predictions.count)
        return kernel(predictions, &gradient)
    }

    @Test func crossEntropySkipsIgnoredPixels() {
        // NCHW [1, 2, 1, 2]. Pixel 0: logits (0, 1), label 1 -> log(1 + e) - 1. Pixel 1 is ignored.
        let logits: [Float] = [0, 2, 1, 0], layout = ChannelLayout(nchw: [1, 2, 1, 2])
        let value = loss(logits) { crossEntropyWithGradient($0, labels: [1, 255], layout, gradient: $1) }
        #expect(abs(value - (log(1 + M_E) - 1)) < 1e-6)
        #expect(loss(logits) { crossEntropyWithGradient($0, labels: [255, 255], layout, gradient: $1) } == 0)
    }

    @Test func balancedBCEWeightsByNegativeFraction() {
        // Labels 1, 0, 0 (and one ignored): w = 2/3; at logit 0 every term is w*ln2 or (1-w)*ln2.
        let value = loss([0, 0, 0, 5]) { balancedBCEWithGradient($0, labels: [1, 0, 0, 255], count: 4, gradient: $1) }
        #expect(abs(value - 4.0 / 9.0 * log(2.0)) < 1e-6)
    }

    @Test func normalsL1AveragesTheNormalisedPredictionsComponents() {
        // Pixel 0: (0, 0, 2) vs (0, 0, 1) -> 0. Pixel 1: (3, 4, 0) -> (0.6, 0.8, 0) vs (1, 0, 0)
        // -> 1.2. Pixel 2 has no label (zero vector). Mean over 2 x 3 components.
        let prediction: [Float] = [0, 3, 9, 0, 4, 9, 2, 0, 9], labels: [Float] = [0, 1, 0, 0, 0, 0, 1, 0, 0]
        let value = loss(prediction) { normalsL1WithGradient($0, labels: labels, ChannelLayout(nchw: [1, 3, 1, 3]), gradient: $1) }
        #expect(abs(value - 0.2) < 1e-6)
    }

    @Test func depthL1SkipsPixelsWithoutDepth() {
        // Labels 0, -1 and infinity mark no depth: |1 - 2| and |5 - 2| count.
        #expect(loss([1, 5, 7, 7, 7]) { depthL1WithGradient($0, labels: [2, 2, 0, -1, .infinity], count: 5, gradient: $1) } == 2)
    }

    @Test func nothingLabelledGivesZeroLossAndGradient() {
        let logits = floats(6, seed: 44), layout = ChannelLayout(nchw: [1, 3, 1, 2]), none = [Float](repeating: 0, count: 6)
        let kernels: [(UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Double] = [
            { crossEntropyWithGradient($0, labels: [255, 255], layout, gradient: $1) },
            { normalsL1WithGradient($0, labels: none, layout, gradient: $1) },
            { depthL1WithGradient($0, labels: none, count: 6, gradient: $1) },
            { balancedBCEWithGradient($0, labels: [Float](repeating: 255, count: 6), count: 6, gradient: $1) },
        ]
        for kernel in kernels {
            var gradient = [Float](repeating: .nan, count: 6)
            #expect(kernel(logits, &gradient) == 0)
            #expect(gradient.allSatisfy { $0 == 0 })
        }
    }

    /// The same pixels in NCHW and in channels-last rows give the same bits.
    @Test func kernelsGiveTheSameBitsInEitherLayout() {
        let (n, c, plane) = (2, 3, 5)
        let nchw = floats(n * c * plane, seed: 46, low: -3, high: 3)
        var rows = [Float](repeating: 0, count: nchw.count)
        for b in 0..<n { for ch in 0..<c { for p in 0..<plane { rows[(b * plane + p) * c + ch] = nchw[(b * c + ch) * plane + p] } } }
        let planar = ChannelLayout(nchw: [n, c, 1, plane]), channelsLast = ChannelLayout(rows: n * plane, channels: c)
        func compare(labels: [Float], labelsNCHW: [Float], _ kernel: ([Float], [Float], ChannelLayout, UnsafeMutablePointer<Float>) -> Double) {
            var gradientNCHW = [Float](repeating: .nan, count: nchw.count), gradientRows = gradientNCHW
            let lossNCHW = kernel(nchw, labelsNCHW, planar, &gradientNCHW)
            let lossRows = kernel(rows, labels, channelsLast, &gradientRows)
            #expect(lossNCHW == lossRows && lossNCHW > 0)
            for b in 0..<n {
                for ch in 0..<c {
                    for p in 0..<plane { #expect(gradientRows[(b * plane + p) * c + ch] == gradientNCHW[(b * c + ch) * plane + p]) }
                }
            }
        }
        let classes: [Float] = [0, 2, 255, 1, 1, 2, 0, 255, 0, 1]
        compare(labels: classes, labelsNCHW: classes) { crossEntropyWithGradient($0, labels: $1, $2, gradient: $3) }
        // Normal labels: the predictions themselves shifted, one pixel without a label.
        var normalRows = rows.map { $0 + 0.5 }
        for ch in 0..<c { normalRows[3 * c + ch] = 0 }
        var normalNCHW = [Float](repeating: 0, count: nchw.count)
        for b in 0..<n { for ch in 0..<c { for p in 0..<plane { normalNCHW[(b * c + ch) * plane + p] = normalRows[(b * plane + p) * c + ch] } } }
        compare(labels: normalRows, labelsNCHW: normalNCHW) { normalsL1WithGradient($0, labels: $1, $2, gradient: $3) }
    }
}
