import Foundation
import RunContract

/// Feeds the model's channels-last predictions on the validation set to the tasks' metric
/// accumulators (`TaskEvaluator`, Sources/Engine/Tasks/Metrics.swift), which take [B, C, H, W].
/// Each image also gets accumulators of its own, for the metrics' bootstrap noise.
struct DenseEvaluation {
    private var evaluators: [TaskEvaluator]
    /// perImage[t][i]: task t's evaluator of validation image i alone.
    private var perImage: [[TaskEvaluator]]

    init(tasks: [TaskName], outputs: [Int]) {
        evaluators = zip(tasks, outputs).map { TaskEvaluator(task: $0, outputs: $1) }
        perImage = evaluators.map { _ in [] }
    }

    /// Adds planar outputs `[B, C, H, W]` per task.
    mutating func add(planar predictions: [TaskName: [Float]], labels: DenseLabels, batch: Int, pixels plane: Int) {
        for index in evaluators.indices {
            let output = predictions[evaluators[index].task]!
            evaluators[index].add(output: output, labels: labels, pixelsPerImage: plane)
            let span = output.count / batch
            for b in 0..<batch {
                var alone = evaluators[index].emptied
                alone.add(output: Array(output[(b * span)..<((b + 1) * span)]), labels: labels.image(b, pixels: plane),
                          pixelsPerImage: plane)
                perImage[index].append(alone)
            }
        }
    }

    /// Adds the heads' channels-last predictions.
    mutating func add(predictions: [TaskName: Matrix], labels: DenseLabels, batch: Int, height: Int, width: Int) {
        let plane = height * width
        var planar: [TaskName: [Float]] = [:]
        for (task, prediction) in predictions {
            planar[task] = TaskEvaluator.channelsFirst(prediction.values, channels: prediction.columns, pixelsPerImage: plane)
        }
        add(planar: planar, labels: labels, batch: batch, pixels: plane)
    }

    /// Headline metric per task, and the secondary numbers for `extra`.
    func results() -> (tasks: [String: TaskMetric], extra: [String: Double]) {
        var tasks: [String: TaskMetric] = [:], extra: [String: Double] = [:]
        for (evaluator, images) in zip(evaluators, perImage) {
            tasks[evaluator.task.rawValue] = evaluator.metric
            extra.merge(evaluator.extra) { a, _ in a }
            extra["\(evaluator.task.rawValue)_val_bootstrap_std"] = bootstrapStd(images)
        }
        return (tasks, extra)
    }
}
