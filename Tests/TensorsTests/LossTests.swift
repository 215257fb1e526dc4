import Foundation
import Testing
@testable import Tensors

@Suite struct LossTests {
    @Test func crossEntropySkipsIgnoredPixels() {
        // Pixel 0: logits (0, 1), label 1 -> log(1 + e) - 1. Pixel 1 is ignored.
        let logits = Tensor([0, 2, 1, 0], shape: [1, 2, 1, 2])
        let loss = crossEntropy(logits, labels: [1, 255])
        #expect(abs(loss.item - Float(log(1 + M_E) - 1)) < 1e-6)
        #expect(crossEntropy(logits, labels: [255, 255]).item == 0)
    }

    @Test func balancedBCEWeightsByNegativeFraction() {
        // Labels 1, 0, 0 (and one ignored): w = 2/3; at logit 0 every term is w*ln2 or (1-w)*ln2.
        let logits = Tensor([0, 0, 0, 5], shape: [1, 1, 2, 2])
        let loss = balancedBCEWithLogits(logits, labels: [1, 0, 0, 255])
        #expect(abs(loss.item - Float(4.0 / 9.0 * log(2.0))) < 1e-6)
    }

    @Test func normalsL1AveragesTheNormalisedPredictionsComponents() {
        // Pixel 0: (0, 0, 2) vs (0, 0, 1) -> 0. Pixel 1: (3, 4, 0) -> (0.6, 0.8, 0) vs (1, 0, 0)
        // -> 1.2. Pixel 2 has no label (zero vector). Mean over 2 x 3 components.
        let prediction = Tensor([0, 3, 9, 0, 4, 9, 2, 0, 9], shape: [1, 3, 1, 3])
        let labels: [Float] = [0, 1, 0, 0, 0, 0, 1, 0, 0]
        #expect(abs(normalsL1(prediction, labels: labels).item - 0.2) < 1e-6)
    }

    @Test func depthL1SkipsPixelsWithoutDepth() {
        // Labels 0, -1 and infinity mark no depth: |1 - 2| and |5 - 2| count.
        let prediction = Tensor([1, 5, 7, 7, 7], shape: [1, 1, 1, 5])
        let loss = depthL1(prediction, labels: [2, 2, 0, -1, .infinity])
        #expect(loss.item == 2)
    }

    @Test func nothingLabelledGivesZeroLossAndGradient() {
        let logits = parameter([1, 3, 1, 2], seed: 44)
        let losses = [crossEntropy(logits, labels: [255, 255]), normalsL1(logits, labels: [Float](repeating: 0, count: 6)),
                      depthL1(logits, labels: [Float](repeating: 0, count: 6))]
        for loss in losses {
            #expect(loss.item == 0)
            loss.backward()
            #expect(logits.gradValues.allSatisfy { $0 == 0 })
        }
        let saliency = parameter([1, 1, 1, 2], seed: 45)
        let loss = balancedBCEWithLogits(saliency, labels: [255, 255])
        loss.backward()
        #expect(loss.item == 0 && saliency.gradValues == [0, 0])
    }

    /// The engine runs the kernels on channels-last rows, the tape on NCHW: the same pixels in
    /// the same order give the same bits.
    @Test func kernelsGiveTheSameBitsInEitherLayout() {
        let (n, c, plane) = (2, 3, 5)
        let nchw = constant([n, c, 1, plane], seed: 46, low: -3, high: 3).values
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

    @Test func gradients() {
        let logits = parameter([2, 4, 2, 3], seed: 40, low: -2, high: 2)
        let labels: [Float] = [0, 1, 2, 3, 255, 1, 2, 2, 255, 0, 3, 1]
        expectGradients([logits]) { t in crossEntropy(t[0], labels: labels) }

        let saliency = parameter([2, 1, 2, 3], seed: 41, low: -2, high: 2)
        let binary: [Float] = [1, 0, 0, 255, 1, 0, 0, 0, 1, 1, 255, 0]
        expectGradients([saliency]) { t in balancedBCEWithLogits(t[0], labels: binary) }

        let prediction = parameter([2, 3, 2, 2], seed: 42)
        // Pixels 1 and 6 (of N, H, W) carry no normal: zero vectors there.
        var normals = constant([2, 3, 2, 2], seed: 43).values
        for (b, p) in [(0, 1), (1, 2)] { for ch in 0..<3 { normals[(b * 3 + ch) * 4 + p] = 0 } }
        expectGradients([prediction], epsilon: 1e-3) { t in normalsL1(t[0], labels: normals) }

        let depth = parameter([2, 1, 2, 3], seed: 47, low: 0, high: 2)
        let depths: [Float] = constant([2, 1, 2, 3], seed: 48, low: 0.1, high: 2).values.enumerated().map { $0 % 4 == 1 ? 0 : $1 }
        expectGradients([depth], epsilon: 1e-3) { t in depthL1(t[0], labels: depths) }
    }
}
