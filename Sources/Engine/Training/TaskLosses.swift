import Foundation
import Tensors

/// The training losses of METHODS.md on channels-last predictions [pixels, outputs]: the
/// Tensors kernels (Tensors/Losses.swift) on the model's matrices. Each returns the loss and
/// its gradient with respect to the predictions, times `gradientScale` (a task's loss weight). Labels are per pixel, in the layout of the
/// predictions: a class index (255 = ignore) for segmentation, 0/1 (255 = ignore) for
/// saliency, a unit vector (zero = no label) for normals, metres (0 or less = no label) for depth.
public enum TaskLoss {
    /// Pixel cross-entropy averaged over labelled pixels.
    public static func crossEntropy(_ logits: Matrix, labels: [Float], gradientScale: Float = 1) -> (Double, Matrix) {
        applying(logits, labels: labels, labelsPerRow: 1) {
            crossEntropyWithGradient($0, labels: $1, $2, gradient: $3, scale: gradientScale)
        }
    }

    /// Balanced binary cross-entropy (MTLoRA's saliency loss): positives weighted by
    /// w = N_neg / N of the batch, negatives by 1 - w, averaged over labelled pixels.
    public static func balancedBinaryCrossEntropy(_ logits: Matrix, labels: [Float], gradientScale: Float = 1) -> (Double, Matrix) {
        applying(logits, labels: labels, labelsPerRow: 1) {
            balancedBCEWithGradient($0, labels: $1, count: $2.count, gradient: $3, scale: gradientScale)
        }
    }

    /// L1 between the L2-normalised prediction and the label, over labelled pixels' components.
    public static func normalsL1(_ predictions: Matrix, labels: [Float], gradientScale: Float = 1) -> (Double, Matrix) {
        precondition(predictions.columns == 3, "normals predictions need 3 columns, got \(predictions.columns)")
        return applying(predictions, labels: labels, labelsPerRow: 3) {
            normalsL1WithGradient($0, labels: $1, $2, gradient: $3, scale: gradientScale)
        }
    }

    /// L1 over pixels with a depth label.
    public static func depthL1(_ predictions: Matrix, labels: [Float], gradientScale: Float = 1) -> (Double, Matrix) {
        applying(predictions, labels: labels, labelsPerRow: 1) {
            depthL1WithGradient($0, labels: $1, count: $2.count, gradient: $3, scale: gradientScale)
        }
    }

    /// The task's loss on its predictions.
    public static func loss(for task: TaskName, _ predictions: Matrix, labels: [Float],
                            gradientScale: Float = 1) -> (Double, Matrix) {
        switch task {
        case .semseg, .humanParts: return crossEntropy(predictions, labels: labels, gradientScale: gradientScale)
        case .saliency: return balancedBinaryCrossEntropy(predictions, labels: labels, gradientScale: gradientScale)
        case .normals: return normalsL1(predictions, labels: labels, gradientScale: gradientScale)
        case .depth: return depthL1(predictions, labels: labels, gradientScale: gradientScale)
        }
    }

    /// Every task's loss, and its gradient times the task's weight: the tasks side by side on the
    /// compute threads, each loss computed as it is alone (so no bit depends on the threads).
    /// `total` is the weighted sum in task order.
    public static func weightedLosses(tasks: [TaskName], predictions: [TaskName: Matrix], labels: [[Float]],
                                      weights: [Double]) -> (total: Double, gradients: [TaskName: Matrix]) {
        var results = [(loss: Double, gradient: Matrix)?](repeating: nil, count: tasks.count)
        results.withUnsafeMutableBufferPointer { results in
            ComputeThreads.spread(tasks.count) { t in
                // The weight scales the gradient inside the loss's own pass (the same bits).
                results[t] = Self.loss(for: tasks[t], predictions[tasks[t]]!, labels: labels[t],
                                       gradientScale: Float(weights[t]))
            }
        }
        var total = 0.0
        var gradients: [TaskName: Matrix] = [:]
        for (t, task) in tasks.enumerated() {
            total += weights[t] * results[t]!.loss
            gradients[task] = results[t]!.gradient
        }
        return (total, gradients)
    }

    /// `kernel` on the predictions as channels-last rows, into a fresh gradient matrix.
    private static func applying(
        _ predictions: Matrix, labels: [Float], labelsPerRow: Int,
        _ kernel: (UnsafePointer<Float>, UnsafePointer<Float>, ChannelLayout, UnsafeMutablePointer<Float>) -> Double
    ) -> (Double, Matrix) {
        precondition(labels.count == predictions.rows * labelsPerRow,
                     "\(labels.count) labels for \(predictions.rows) rows of \(labelsPerRow)")
        let layout = ChannelLayout(rows: predictions.rows, channels: predictions.columns)
        var gradient = Matrix(uninitialized: predictions.rows, predictions.columns)
        let loss = predictions.values.withUnsafeBufferPointer { p in
            labels.withUnsafeBufferPointer { l in
                gradient.values.withUnsafeMutableBufferPointer { g in kernel(p.baseAddress!, l.baseAddress!, layout, g.baseAddress!) }
            }
        }
        return (loss, gradient)
    }
}
