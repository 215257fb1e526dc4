import Foundation
import RunContract

/// Dense multi-task fine-tuning (kinds single_task, mtl_full, mtl_decoders, and task_similarity,
/// which then measures TGLoRA's task similarity): the Swin backbone with one decoder head per
/// task, the papers' weighted sum of task losses, augmented batches.
public final class DenseObjective: ParameterizedObjective {
    public let config: RunConfig
    public let model: MultiTaskModel
    /// The method's frozen parts, low-rank modules and PDRS (Methods/BackboneAdaptation.swift).
    public let adaptation: BackboneAdaptation
    let train: any MultiTaskDataset
    let validation: any MultiTaskDataset
    let augmentation: Augmentation
    let threads: Int
    private var batch: MultiTaskBatch
    /// Kind task_similarity: measured at evaluation, written as the run's artifact.
    private var similarity: TaskSimilarity?

    public init(config: RunConfig, train: any MultiTaskDataset, validation: any MultiTaskDataset,
                threads: Int = 1) throws {
        self.config = config
        self.train = train
        self.validation = validation
        self.threads = threads
        augmentation = Augmentation.papers(seed: UInt64(config.seed))
        let outputs = Dictionary(uniqueKeysWithValues: config.tasks.map { ($0, train.outputs(of: $0)) })
        model = MultiTaskModel(shape: config.backbone, imageSize: config.imageSize, tasks: config.tasks,
                               outputs: outputs, decoder: config.decoderSpec,
                               seed: config.seed)
        if let path = config.pretrained {
            try model.backbone.loadPretrained(from: path)
        }
        for task in config.tasks where task.labelKind == .classIndices {
            let head = model.heads[task]!
            let frequencies = try train.classFrequencies(of: task, classes: head.outputs, threads: threads)
            for (k, frequency) in frequencies.enumerated() { head.classify.bias!.values[k] = Float(log(frequency)) }
        }
        adaptation = BackboneAdaptation(options: config.method,
                                        model: model, seed: config.seed)
        batch = MultiTaskBatch(size: config.batchSize, height: train.height, width: train.width, tasks: config.tasks)
    }

    /// The model's parameters and those the method adds beside it (TS-PD).
    public var modelParameters: [Parameter] { model.parameters + adaptation.parameters }

    /// As every objective's, with the decoder's parameters at `decoder_lr_scale`: the heads', and
    /// TS-PD's filters and XT-Cons's alphas, which FAAR makes part of the decoder (they feed the
    /// heads; at the adapters' rate they would learn 10x slower than what they feed).
    public func trainableSlots() -> [ParameterSlot] {
        let decoder = Set((model.tasks.flatMap { model.heads[$0]!.parameters } + adaptation.parameters)
            .map(ObjectIdentifier.init))
        return modelParameters.compactMap { parameter in
            parameter.slot.map { slot in
                var slot = slot
                if decoder.contains(ObjectIdentifier(parameter)) { slot.learningRateScale = Float(config.decoderLRScale) }
                return slot
            }
        }
    }

    public func trainStep(epoch: Int, step: Int) throws -> Double {
        let indices = batchIndices(step: step, batchSize: config.batchSize, count: train.count, seed: config.seed,
                                   epoch: epoch)
        try train.fill(&batch, indices: indices, augmentation: augmentation, epoch: epoch, threads: threads)
        let size = indices.count, plane = batch.height * batch.width
        let images = channelsLastImages(batch.images, batch: size, height: batch.height, width: batch.width)
        // Dropout's and drop path's masks follow from the seed and the step's index in the run.
        let noise = NoiseKey(seed: UInt64(config.seed), step: epoch * config.stepsPerEpoch + step)
        let (predictions, pullback) = adaptation.forward(model, images, batch: size, ForwardContext(training: true, noise: noise))
        let (total, gradients) = TaskLoss.weightedLosses(
            tasks: config.tasks, predictions: predictions,
            labels: config.tasks.map { batch.labels.lossLabels(for: $0, batch: size, plane: plane) },
            weights: config.tasks.map { config.lossWeights[$0] ?? $0.paperLossWeight })
        pullback(gradients)
        adaptation.recordImportance()
        return total
    }

    /// PDRS sets the new rank "for the next epoch": after the last there is none, and the model
    /// evaluated is the one trained at the last epoch's ranks.
    public func epochEnded(epoch: Int) -> [String: Int] { adaptation.epochEnded(shrinks: epoch + 1 < config.epochs) }

    public func evaluate() throws -> (tasks: [String: TaskMetric], extra: [String: Double]) {
        var evaluation = DenseEvaluation(tasks: config.tasks, outputs: model.tasks.map { model.heads[$0]!.outputs })
        var evalBatch = MultiTaskBatch(size: config.batchSize, height: validation.height, width: validation.width,
                                       tasks: config.tasks)
        var start = 0
        while start < validation.count {
            let indices = Array(start..<min(validation.count, start + config.batchSize))
            try validation.fill(&evalBatch, indices: indices, threads: threads)
            let images = channelsLastImages(evalBatch.images, batch: indices.count, height: evalBatch.height,
                                            width: evalBatch.width)
            let (predictions, _) = adaptation.forward(model, images, batch: indices.count, ForwardContext(training: false))
            evaluation.add(predictions: predictions, labels: evalBatch.labels, batch: indices.count,
                           height: evalBatch.height, width: evalBatch.width)
            start += config.batchSize
        }
        var (tasks, extra) = evaluation.results()
        extra.merge(adaptation.summary) { kept, _ in kept }
        if config.kind == .taskSimilarity {
            let measured = measureTaskSimilarity(examples: config.similarityExamples)
            similarity = measured
            for t in measured.tasks.indices {
                for u in measured.tasks.indices where u > t {
                    let entry = TaskSimilarityEntry(a: measured.tasks[t], b: measured.tasks[u],
                                                    value: measured[t, u])
                    extra[entry.key] = entry.value
                }
            }
        }
        return (tasks, extra)
    }

    public func state() -> [String: StoredTensor] { modelParameters.state.merging(adaptation.state()) { kept, _ in kept } }

    public func restore(_ state: [String: StoredTensor]) throws {
        try modelParameters.restore(from: state)
        try adaptation.restore(state)
    }

    public var parameterCounts: ParameterCounts { adaptation.parameterCounts(model) }

    /// Per image, at the training batch: DoRA's norms are computed once per pass for the batch.
    public func forwardGMACs() -> Double {
        Double(adaptation.forwardMACs(model, imagesPerPass: config.batchSize)) / 1e9
    }

    public func writeArtifacts(to directory: URL) throws -> [String: String] {
        guard let similarity else { return [:] }
        try similarity.write(to: directory.appendingPathComponent(TaskSimilarity.fileName))
        return ["similarity": TaskSimilarity.fileName]
    }
}

extension MultiTaskDataset {
    /// Each class's share of the labelled pixels of (up to) the first 256 un-augmented training
    /// images, with one pseudo-count per class so absent classes keep a finite logarithm.
    /// A classifier whose biases are their logarithms predicts the prior from the first step.
    func classFrequencies(of task: TaskName, classes: Int, threads: Int) throws -> [Double] {
        let perImage = try concurrentMap(Array(0..<min(count, 256)), threads: threads) { index in
            var counts = [Double](repeating: 0, count: classes)
            for label in try self.sample(at: index).labels.classes(task)! where Int(label) < classes {
                counts[Int(label)] += 1
            }
            return counts
        }
        let counts = perImage.reduce([Double](repeating: 1, count: classes)) { zip($0, $1).map(+) }
        let total = counts.reduce(0, +)
        return counts.map { $0 / total }
    }
}
