import Foundation
import RunContract

/// Turns the model's channels-last predictions on the validation set into the papers' metrics
/// (METHODS.md): mIoU pooled over the set, saliency's best-threshold mean per-image IoU, the mean
/// angle of normals in degrees, depth RMSE pooled over valid pixels.
struct DenseEvaluation {
    let tasks: [TaskName]
    let outputs: [Int]
    /// Pooled confusion counts per segmentation task: [label * classes + prediction].
    private var confusion: [TaskName: [Int]] = [:]
    /// Saliency: sum over images of the IoU at each threshold, and the image count.
    private var saliencyIoUSums = [Double](repeating: 0, count: 15)
    private var saliencyImages = 0
    private var angleSum = 0.0, anglePixels = 0
    private var squaredDepthSum = 0.0, depthPixels = 0

    static let saliencyThresholds = (0..<15).map { 0.2 + 0.05 * Double($0) }

    init(tasks: [TaskName], outputs: [Int]) {
        self.tasks = tasks; self.outputs = outputs
        for (task, classes) in zip(tasks, outputs) where task.labelKind == .classIndices {
            confusion[task] = [Int](repeating: 0, count: classes * classes)
        }
    }

    mutating func add(predictions: [TaskName: Matrix], labels: DenseLabels, batch: Int, height: Int, width: Int) {
        let plane = height * width
        for (task, classes) in zip(tasks, outputs) {
            let prediction = predictions[task]!
            switch task.labelKind {
            case .classIndices:
                let truth = labels.classes(task)!
                for p in 0..<(batch * plane) where truth[p] != ignoreLabel {
                    var best = 0
                    for c in 1..<classes where prediction.values[p * classes + c] > prediction.values[p * classes + best] {
                        best = c
                    }
                    confusion[task]![Int(truth[p]) * classes + best] += 1
                }
            case .binary:
                let truth = labels.classes(task)!
                for b in 0..<batch {
                    var intersections = [Int](repeating: 0, count: 15), unions = [Int](repeating: 0, count: 15)
                    for p in (b * plane)..<((b + 1) * plane) where truth[p] != ignoreLabel {
                        let probability = 1 / (1 + exp(-Double(prediction.values[p])))
                        let positive = truth[p] > 0
                        for (t, threshold) in Self.saliencyThresholds.enumerated() {
                            let predicted = probability > threshold
                            if predicted && positive { intersections[t] += 1 }
                            if predicted || positive { unions[t] += 1 }
                        }
                    }
                    for t in 0..<15 {
                        // An image with nothing salient and nothing predicted is a perfect match.
                        saliencyIoUSums[t] += unions[t] == 0 ? 1 : Double(intersections[t]) / Double(unions[t])
                    }
                    saliencyImages += 1
                }
            case .unitVectors:
                let truth = labels.values(task)!
                for b in 0..<batch {
                    for p in 0..<plane {
                        let t = (0..<3).map { Double(truth[(b * 3 + $0) * plane + p]) }
                        guard t.contains(where: { $0 != 0 }) else { continue }
                        let v = (0..<3).map { Double(prediction.values[(b * plane + p) * 3 + $0]) }
                        let norm = max(1e-12, (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).squareRoot())
                        let cosine = (v[0] * t[0] + v[1] * t[1] + v[2] * t[2]) / norm
                        angleSum += acos(min(1, max(-1, cosine))) * 180 / .pi
                        anglePixels += 1
                    }
                }
            case .metres:
                let truth = labels.values(task)!
                for p in 0..<(batch * plane) where truth[p] > 0 {
                    let d = Double(prediction.values[p] - truth[p])
                    squaredDepthSum += d * d
                    depthPixels += 1
                }
            }
        }
    }

    func metrics() -> [String: TaskMetric] {
        var result: [String: TaskMetric] = [:]
        for (task, classes) in zip(tasks, outputs) {
            let value: Double
            switch task.labelKind {
            case .classIndices:
                let counts = confusion[task]!
                var ious: [Double] = []
                for c in 0..<classes {
                    let truePositive = counts[c * classes + c]
                    let labelled = (0..<classes).map { counts[c * classes + $0] }.reduce(0, +)
                    let predicted = (0..<classes).map { counts[$0 * classes + c] }.reduce(0, +)
                    let union = labelled + predicted - truePositive
                    // Classes absent from both labels and predictions do not count.
                    if union > 0 { ious.append(Double(truePositive) / Double(union)) }
                }
                value = 100 * ious.reduce(0, +) / Double(max(1, ious.count))
            case .binary:
                value = 100 * (saliencyIoUSums.max() ?? 0) / Double(max(1, saliencyImages))
            case .unitVectors:
                value = angleSum / Double(max(1, anglePixels))
            case .metres:
                value = (squaredDepthSum / Double(max(1, depthPixels))).squareRoot()
            }
            result[task.rawValue] = TaskMetric(name: task.metricName, value: value, direction: task.direction)
        }
        return result
    }
}
