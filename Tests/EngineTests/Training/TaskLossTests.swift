import Foundation
import Testing
import Tensors
@testable import Engine

/// The engine's losses on channels-last rows and the Tensors tape ops on the same values in
/// NCHW run one kernel: the same loss and the same gradient, bit for bit, for every task.
@Suite struct TaskLossTests {
    let batch = 2, plane = 6

    /// Channels-last rows [batch * plane, channels] as NCHW values, and back when `inverse`.
    func transposed(_ values: [Float], channels: Int, inverse: Bool = false) -> [Float] {
        var out = values
        for b in 0..<batch {
            for c in 0..<channels {
                for p in 0..<plane {
                    let row = (b * plane + p) * channels + c, nchw = (b * channels + c) * plane + p
                    if inverse { out[row] = values[nchw] } else { out[nchw] = values[row] }
                }
            }
        }
        return out
    }

    func expectSameAsTape(_ task: TaskName, channels: Int, labels: [Float],
                          _ tapeLoss: (Tensor, [Float]) -> Tensor) {
        var generator = SeededRandom(seed: stableHash(task.rawValue))
        let rows = Matrix(rows: batch * plane, columns: channels,
                          values: (0..<(batch * plane * channels)).map { _ in Float(generator.normalDouble()) })
        let (loss, gradient) = TaskLoss.loss(for: task, rows, labels: labels)
        let predictions = Tensor(transposed(rows.values, channels: channels), shape: [batch, channels, 1, plane])
        predictions.requiresGrad = true
        let labelsNCHW = labels.count == rows.values.count ? transposed(labels, channels: channels) : labels
        let tape = tapeLoss(predictions, labelsNCHW)
        tape.backward()
        #expect(loss > 0, "\(task)")
        #expect(tape.item == Float(loss), "\(task)")
        #expect(transposed(predictions.gradValues, channels: channels, inverse: true) == gradient.values, "\(task)")
    }

    @Test func everyTaskLossIsTheTapesKernel() {
        let pixels = batch * plane
        expectSameAsTape(.semseg, channels: 5, labels: (0..<pixels).map { $0 % 4 == 3 ? 255 : Float($0 % 5) }) {
            crossEntropy($0, labels: $1)
        }
        expectSameAsTape(.saliency, channels: 1, labels: (0..<pixels).map { $0 % 5 == 4 ? 255 : Float($0 % 2) }) {
            balancedBCEWithLogits($0, labels: $1)
        }
        // Channels-last label vectors with components in -2...2; pixel 7 has no label.
        let normals: [Float] = (0..<(3 * pixels)).map { (i: Int) -> Float in
            let component = (i * 7) % 5 - 2
            return i / 3 == 7 ? 0 : Float(component)
        }
        expectSameAsTape(.normals, channels: 3, labels: normals) { normalsL1($0, labels: $1) }
        expectSameAsTape(.depth, channels: 1, labels: (0..<pixels).map { $0 % 3 == 0 ? 0 : Float($0) / 4 }) {
            depthL1($0, labels: $1)
        }
    }
}
