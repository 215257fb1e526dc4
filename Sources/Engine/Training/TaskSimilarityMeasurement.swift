import Foundation

extension DenseObjective {
    /// TGLoRA's task similarity (eq. 1-3) with the model as trained so far (kind task_similarity:
    /// decoders fine-tuned on the frozen backbone): for each of the first `examples` training
    /// images, unaugmented, in evaluation mode (no dropout; BatchNorm uses its running
    /// statistics), each task's loss gradient with respect to every backbone parameter, and the
    /// mean of each pair's cosine over the images labelled for both tasks.
    public func measureTaskSimilarity(examples: Int) -> TaskSimilarity {
        let shared = model.backbone.parameters.filter { $0.role == .backbone }
        let wasTrainable = shared.map(\.isTrainable)
        // Gradient buffers for the measurement only; the backbone stays as the run left it.
        for parameter in shared { parameter.setTrainable(true) }
        defer { for (parameter, trainable) in zip(shared, wasTrainable) { parameter.setTrainable(trainable) } }
        var accumulator = TaskSimilarity.Accumulator(tasks: config.tasks.map(\.rawValue))
        var sample = MultiTaskBatch(size: 1, height: train.height, width: train.width, tasks: config.tasks)
        let plane = train.height * train.width
        for index in 0..<examples {
            try! train.fill(&sample, indices: [index], threads: threads)
            let images = channelsLastImages(sample.images, batch: 1, height: sample.height, width: sample.width)
            let (predictions, pullback) = adaptation.forward(model, images, batch: 1, ForwardContext(training: false))
            let gradients = config.tasks.map { task in
                let labels = sample.labels.lossLabels(for: task, batch: 1, plane: plane)
                let (_, gradient) = TaskLoss.loss(for: task, predictions[task]!, labels: labels)
                for parameter in shared { parameter.zeroGradient() }
                pullback([task: gradient])
                return shared.flatMap { Array($0.gradient!) }
            }
            accumulator.add(gradients: gradients,
                            labelled: config.tasks.map { sample.labels.hasLabelledPixel(for: $0) })
        }
        return accumulator.similarity
    }
}
