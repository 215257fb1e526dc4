import Foundation
import RunContract

/// Feeds the model's channels-last predictions on the validation set to the tasks' metric
/// accumulators (`TaskEvaluator`, Sources/Engine/Tasks/Metrics.swift), which take [B, C, H, W].
struct DenseEvaluation {
    private var evaluators: [TaskEvaluator]

    init(tasks: [TaskName], outputs: [Int]) {
        evaluators = zip(tasks, outputs).map { TaskEvaluator(task: $0, outputs: $1) }
    }

    mutating func add(predictions: [TaskName: Matrix], labels: DenseLabels, batch: Int, height: Int, width: Int) {
        let plane = height * width
        for index in evaluators.indices {
            let prediction = predictions[evaluators[index].task]!
            let channels = prediction.columns
            var planar = [Float](repeating: 0, count: prediction.values.count)
            for b in 0..<batch {
                for p in 0..<plane {
                    for c in 0..<channels {
                        planar[(b * channels + c) * plane + p] = prediction.values[(b * plane + p) * channels + c]
                    }
                }
            }
            evaluators[index].add(output: planar, labels: labels, pixelsPerImage: plane)
        }
    }

    /// Headline metric per task, and the secondary numbers for `extra`.
    func results() -> (tasks: [String: TaskMetric], extra: [String: Double]) {
        var tasks: [String: TaskMetric] = [:], extra: [String: Double] = [:]
        for evaluator in evaluators {
            tasks[evaluator.task.rawValue] = evaluator.metric
            extra.merge(evaluator.extra) { a, _ in a }
        }
        return (tasks, extra)
    }
}
