import Foundation
import Tensors

/// The training losses of METHODS.md on channels-last predictions [pixels, outputs]. Each returns
/// the loss and its gradient with respect to the predictions. Labels are per pixel: a class index
/// (255 = ignore) for segmentation, 0/1 (255 = ignore) for saliency, a unit vector (zero = no
/// label) for normals, metres (0 or less = no label) for depth.
public enum TaskLoss {
    public static let ignoreLabel: Float = 255

    /// Pixel cross-entropy averaged over labelled pixels. The gradient's scaling by 1/count and
    /// `gradientScale` happens in the same pass (the count is known first), unlabelled rows
    /// written as the zeros they would be after scaling: no zero-fill, no second pass.
    public static func crossEntropy(_ logits: Matrix, labels: [Float], gradientScale scale: Float = 1) -> (Double, Matrix) {
        let k = logits.columns
        var counted = 0
        for p in 0..<logits.rows where labels[p] != ignoreLabel { counted += 1 }
        guard counted > 0 else {
            var gradient = Matrix(zeros: logits.rows, k)
            return finish(0, 0, &gradient, scale)
        }
        let inverse = Float(1 / Double(counted)), unlabelled: Float = 0 * inverse * scale
        var gradient = Matrix(uninitialized: logits.rows, k)
        var total = 0.0
        logits.values.withUnsafeBufferPointer { z in
            gradient.values.withUnsafeMutableBufferPointer { g in
                for p in 0..<logits.rows {
                    guard labels[p] != ignoreLabel else {
                        for c in 0..<k { g[p * k + c] = unlabelled }
                        continue
                    }
                    let row = z.baseAddress! + p * k
                    var largest = -Float.infinity
                    for c in 0..<k { largest = max(largest, row[c]) }
                    var sum: Float = 0
                    for c in 0..<k { let e = exp(row[c] - largest); g[p * k + c] = e; sum += e }
                    let label = Int(labels[p])
                    total += Double(log(sum) + largest - row[label])
                    for c in 0..<k { g[p * k + c] /= sum }
                    g[p * k + label] -= 1
                    for c in 0..<k { g[p * k + c] = g[p * k + c] * inverse * scale }
                }
            }
        }
        return (total / Double(counted), gradient)
    }

    /// Balanced binary cross-entropy (MTLoRA's saliency loss): positives weighted by
    /// w = N_neg / N of the batch, negatives by 1 - w, averaged over labelled pixels.
    public static func balancedBinaryCrossEntropy(_ logits: Matrix, labels: [Float], gradientScale: Float = 1) -> (Double, Matrix) {
        var positives = 0.0, negatives = 0.0
        for label in labels where label != ignoreLabel { if label > 0.5 { positives += 1 } else { negatives += 1 } }
        let w = Float(negatives / max(1, positives + negatives))
        var gradient = Matrix(zeros: logits.rows, 1)
        var total = 0.0, counted = 0
        for p in 0..<logits.rows where labels[p] != ignoreLabel {
            let x = logits.values[p], y = labels[p]
            // log σ(x) and log(1 - σ(x)), computed without overflow.
            let softplusNegative = max(-x, 0) + log(1 + exp(-abs(x)))
            let logP = -softplusNegative, logQ = -x - softplusNegative
            let sigma = 1 / (1 + exp(-x))
            total -= Double(w * y * logP + (1 - w) * (1 - y) * logQ)
            gradient.values[p] = -w * y * (1 - sigma) + (1 - w) * (1 - y) * sigma
            counted += 1
        }
        return finish(total, counted, &gradient, gradientScale)
    }

    /// L1 between the L2-normalised prediction and the label, over labelled pixels' components.
    public static func normalsL1(_ predictions: Matrix, labels: [Float], gradientScale: Float = 1) -> (Double, Matrix) {
        precondition(predictions.columns == 3 && labels.count == predictions.rows * 3)
        var gradient = Matrix(zeros: predictions.rows, 3)
        var total = 0.0, counted = 0
        for p in 0..<predictions.rows {
            let label = (labels[3 * p], labels[3 * p + 1], labels[3 * p + 2])
            guard label.0 != 0 || label.1 != 0 || label.2 != 0 else { continue }
            let v = (predictions.values[3 * p], predictions.values[3 * p + 1], predictions.values[3 * p + 2])
            let norm = max((v.0 * v.0 + v.1 * v.1 + v.2 * v.2).squareRoot(), 1e-12)
            let unit = [v.0 / norm, v.1 / norm, v.2 / norm]
            let target = [label.0, label.1, label.2]
            var sign = [Float](repeating: 0, count: 3)
            for i in 0..<3 {
                let d = unit[i] - target[i]
                total += Double(abs(d))
                sign[i] = d > 0 ? 1 : (d < 0 ? -1 : 0)
            }
            // Through the normalisation: (I - u uᵀ) s / |v|.
            let dot = sign[0] * unit[0] + sign[1] * unit[1] + sign[2] * unit[2]
            for i in 0..<3 { gradient.values[3 * p + i] = (sign[i] - unit[i] * dot) / norm }
            counted += 3
        }
        return finish(total, counted, &gradient, gradientScale)
    }

    /// L1 over pixels with a depth label.
    public static func depthL1(_ predictions: Matrix, labels: [Float], gradientScale: Float = 1) -> (Double, Matrix) {
        var gradient = Matrix(zeros: predictions.rows, 1)
        var total = 0.0, counted = 0
        for p in 0..<predictions.rows where labels[p] > 0 && labels[p].isFinite {
            let d = predictions.values[p] - labels[p]
            total += Double(abs(d))
            gradient.values[p] = d > 0 ? 1 : (d < 0 ? -1 : 0)
            counted += 1
        }
        return finish(total, counted, &gradient, gradientScale)
    }

    /// Mean of the summed loss and its gradient, the gradient then times `scale` (in place, in
    /// one pass); nothing labelled gives zero loss and gradient.
    private static func finish(_ total: Double, _ counted: Int, _ gradient: inout Matrix, _ scale: Float) -> (Double, Matrix) {
        guard counted > 0 else {
            let zero: Float = 0 * scale
            return (0, Matrix(rows: gradient.rows, columns: gradient.columns,
                              values: [Float](repeating: zero, count: gradient.values.count)))
        }
        let inverse = Float(1 / Double(counted))
        gradient.values.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] = g[i] * inverse * scale } }
        return (total / Double(counted), gradient)
    }

    /// The task's loss on its predictions, and its gradient times `gradientScale`.
    public static func loss(for task: TaskName, _ predictions: Matrix, labels: [Float], gradientScale: Float = 1)
        -> (Double, Matrix) {
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
}
