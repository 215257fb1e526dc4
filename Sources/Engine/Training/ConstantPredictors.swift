import Foundation
import RunContract

/// The "Trivial" row (`kind: trivial`): each task's best constant prediction, with no model and
/// no training. Fitted on (up to 256 images of) the training split, scored on the validation
/// split by the same metrics as a trained model:
///
/// - semseg and human parts: the most frequent class, everywhere;
/// - saliency: the better, on the training images, of "all salient" and "nothing salient" (a
///   constant probability map is one or the other at every threshold);
/// - normals: the mean unit normal; depth: the mean depth (the constant with the least RMSE).
///
/// A column close to its Trivial value carries no signal, whatever the rows' differences. The
/// run also reports each class's share of the labelled validation pixels (`extra`,
/// "semseg_share.sky", ...), from the class names a synthetic set gives.
public final class ConstantPredictors: TrainingObjective {
    public let config: RunConfig
    private let validation: any MultiTaskDataset
    /// Per task, one image's planar output `[C, H, W]` (logits for classes and saliency).
    private let constants: [TaskName: [Float]]

    public init(config: RunConfig, train: any MultiTaskDataset, validation: any MultiTaskDataset) throws {
        self.config = config; self.validation = validation
        let plane = train.height * train.width
        let fitting = try (0..<min(train.count, 256)).map { try train.sample(at: $0).labels }
        var constants: [TaskName: [Float]] = [:]
        for task in config.tasks {
            switch task {
            case .semseg, .humanParts:
                // Counted on the fitting images already read (classFrequencies would read them again).
                let classes = train.outputs(of: task)
                var counts = [Int](repeating: 0, count: classes)
                for labels in fitting { for label in labels.classes(task)! where Int(label) < classes { counts[Int(label)] += 1 } }
                let majority = counts.indices.max { counts[$0] < counts[$1] }!
                var logits = [Float](repeating: 0, count: classes * plane)
                for p in 0..<plane { logits[majority * plane + p] = 1 }
                constants[task] = logits
            case .saliency:
                var all = SaliencyMeter(), none = SaliencyMeter()
                for labels in fitting {
                    all.add(probabilities: [Float](repeating: 1, count: plane), targets: labels.saliency!, pixelsPerImage: plane)
                    none.add(probabilities: [Float](repeating: 0, count: plane), targets: labels.saliency!, pixelsPerImage: plane)
                }
                constants[task] = [Float](repeating: all.maxMeanIoU > none.maxMeanIoU ? 20 : -20, count: plane)
            case .normals:
                var sum = [Double](repeating: 0, count: 3)
                for labels in fitting {
                    let n = labels.normals!
                    for p in 0..<plane where n[p] != 0 || n[plane + p] != 0 || n[2 * plane + p] != 0 {
                        for c in 0..<3 { sum[c] += Double(n[c * plane + p]) }
                    }
                }
                let norm = max(sum.map { $0 * $0 }.reduce(0, +).squareRoot(), 1e-12)
                constants[task] = sum.flatMap { [Float](repeating: Float($0 / norm), count: plane) }
            case .depth:
                var sum = 0.0, pixels = 0
                for labels in fitting { for d in labels.depth! where d > 0 { sum += Double(d); pixels += 1 } }
                constants[task] = [Float](repeating: Float(sum / Double(max(pixels, 1))), count: plane)
            }
        }
        self.constants = constants
    }

    public func trainableSlots() -> [ParameterSlot] { [] }
    public func zeroGradients() {}
    public func trainStep(epoch: Int, step: Int) throws -> Double { 0 }
    public func epochEnded(epoch: Int) -> [String: Int] { [:] }

    public func evaluate() throws -> (tasks: [String: TaskMetric], extra: [String: Double]) {
        var evaluation = DenseEvaluation(tasks: config.tasks, outputs: config.tasks.map { validation.outputs(of: $0) })
        var counts: [TaskName: [Int]] = [:]
        for index in 0..<validation.count {
            let labels = try validation.sample(at: index).labels
            evaluation.add(planar: constants, labels: labels, batch: 1, pixels: validation.height * validation.width)
            for task in config.tasks {
                guard let map = labels.classes(task), task != .saliency else { continue }
                var taskCounts = counts[task] ?? [Int](repeating: 0, count: validation.outputs(of: task))
                for label in map where Int(label) < taskCounts.count { taskCounts[Int(label)] += 1 }
                counts[task] = taskCounts
            }
        }
        var (tasks, extra) = evaluation.results()
        for (task, taskCounts) in counts {
            let names = classNames(task), total = max(taskCounts.reduce(0, +), 1)
            for (k, count) in taskCounts.enumerated() {
                extra["\(task.rawValue)_share.\(k < names.count ? names[k] : String(k))"] = 100 * Double(count) / Double(total)
            }
        }
        return (tasks, extra)
    }

    private func classNames(_ task: TaskName) -> [String] {
        guard validation is SyntheticScenes else { return [] }
        return task == .humanParts ? SyntheticScenes.humanPartNames : SyntheticScenes.semsegClasses(config.dataset)
    }

    public func state() -> [String: StoredTensor] { [:] }
    public func restore(_ state: [String: StoredTensor]) throws {}
    public var parameterCounts: ParameterCounts { ParameterCounts(trainable: 0, total: 0, decoder: 0, backbone: 0) }
    public func forwardGMACs() -> Double { 0 }
    public func writeArtifacts(to directory: URL) throws -> [String: String] { [:] }
}
