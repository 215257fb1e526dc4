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
        // Targets 1, 0, 0 (and one ignored): w = 2/3; at logit 0 every term is w*ln2 or (1-w)*ln2.
        let logits = Tensor([0, 0, 0, 5], shape: [1, 1, 2, 2])
        let targets = Tensor([1, 0, 0, 255], shape: [1, 1, 2, 2])
        let loss = balancedBCEWithLogits(logits, targets: targets)
        #expect(abs(loss.item - Float(4.0 / 9.0 * log(2.0))) < 1e-6)
    }

    @Test func normalsL1NormalisesThePrediction() {
        // Pixel 0: (0, 0, 2) vs (0, 0, 1) -> 0. Pixel 1: (3, 4, 0) -> (0.6, 0.8, 0) vs (1, 0, 0) -> 1.2.
        let prediction = Tensor([0, 3, 9, 0, 4, 9, 2, 0, 9], shape: [1, 3, 1, 3])
        let target = Tensor([0, 1, 0, 0, 0, 0, 1, 0, 0], shape: [1, 3, 1, 3])
        let loss = normalsL1(prediction, target: target, valid: [true, true, false])
        #expect(abs(loss.item - 0.6) < 1e-6)
        let depth = maskedL1(prediction, target: target, valid: [true, true, false])
        #expect(abs(depth.item - Float(1 + 0 + 0 + 2 + 4 + 0) / 2) < 1e-6)  // |0-0|+|0-0|+|2-1| + |3-1|+|4-0|+|0-0|
    }

    @Test func gradients() {
        let logits = parameter([2, 4, 2, 3], seed: 40, low: -2, high: 2)
        let labels: [Int32] = [0, 1, 2, 3, 255, 1, 2, 2, 255, 0, 3, 1]
        expectGradients([logits]) { t in crossEntropy(t[0], labels: labels) }

        let saliency = parameter([2, 1, 2, 3], seed: 41, low: -2, high: 2)
        let targets = Tensor([1, 0, 0, 255, 1, 0, 0, 0, 1, 1, 255, 0], shape: [2, 1, 2, 3])
        expectGradients([saliency]) { t in balancedBCEWithLogits(t[0], targets: targets) }

        let prediction = parameter([2, 3, 2, 2], seed: 42)
        let target = constant([2, 3, 2, 2], seed: 43)
        let valid = [true, false, true, true, true, true, false, true]
        expectGradients([prediction], epsilon: 1e-3) { t in maskedL1(t[0], target: target, valid: valid) }
        expectGradients([prediction], epsilon: 1e-3) { t in normalsL1(t[0], target: target, valid: valid) }
    }
}
