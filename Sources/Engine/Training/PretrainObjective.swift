import Foundation
import RunContract

/// The backbone with timm's classification head: (Swin's final LayerNorm,) mean over tokens, Linear.
public final class ClassificationModel {
    public let backbone: any Backbone
    public let head: Linear

    public init(shape: BackboneShape, imageSize: Int, classes: Int, seed: Int) {
        backbone = shape.makeBackbone(imageSize: imageSize, seed: seed)
        head = Linear(name: backbone.classifierName, inFeatures: shape.stageDims.last!, outFeatures: classes, role: .classifier,
                      initializer: ParameterInitializer(seed: UInt64(seed) &+ 77))
    }

    public var parameters: [Parameter] { backbone.parameters + head.parameters }

    /// Logits [batch, classes]; the pullback accumulates every parameter's gradient.
    public func forward(_ images: Matrix, batch: Int, _ context: ForwardContext) -> (Matrix, (Matrix) -> Void) {
        let (features, backbonePullback) = backbone.forward(images, batch: batch, context)
        let last = features[features.count - 1]
        let (normalized, normPullback) = backbone.headNorm?.forward(last.values, context) ?? (last.values, { $0 })
        let tokens = last.height * last.width, c = normalized.columns
        var pooled = Matrix(zeros: batch, c)
        for b in 0..<batch {
            for t in 0..<tokens {
                for j in 0..<c { pooled.values[b * c + j] += normalized.values[(b * tokens + t) * c + j] }
            }
        }
        let inverse = 1 / Float(tokens)
        for i in pooled.values.indices { pooled.values[i] *= inverse }
        let (logits, headPullback) = head.forward(pooled, context)
        return (logits, { dLogits in
            let dPooled = headPullback(dLogits)
            var dNormalized = Matrix(zeros: batch * tokens, c)
            for b in 0..<batch {
                for t in 0..<tokens {
                    for j in 0..<c { dNormalized.values[(b * tokens + t) * c + j] = dPooled.values[b * c + j] * inverse }
                }
            }
            var gradients: [Matrix?] = Array(repeating: nil, count: features.count)
            gradients[features.count - 1] = normPullback(dNormalized)
            backbonePullback(gradients)
        })
    }
}

/// Pretraining on the upstream classification set; its artifact is the backbone in timm's names.
public final class PretrainObjective: ParameterizedObjective {
    public static let artifactName = "backbone.safetensors"

    public let config: RunConfig
    public let model: ClassificationModel
    let train: any ClassificationDataset
    let validation: any ClassificationDataset
    let augmentation: Augmentation
    let threads: Int
    private var batch: ClassificationBatch

    public init(config: RunConfig, train: any ClassificationDataset, validation: any ClassificationDataset,
                threads: Int = 1) {
        self.config = config; self.train = train; self.validation = validation; self.threads = threads
        augmentation = Augmentation.papers(seed: UInt64(config.seed))
        model = ClassificationModel(shape: config.backbone, imageSize: config.imageSize, classes: train.classes,
                                    seed: config.seed)
        batch = ClassificationBatch(size: config.batchSize, height: train.height, width: train.width)
    }

    public var modelParameters: [Parameter] { model.parameters }

    public func trainStep(epoch: Int, step: Int) throws -> Double {
        let indices = batchIndices(step: step, batchSize: config.batchSize, count: train.count, seed: config.seed,
                                   epoch: epoch)
        try train.fill(&batch, indices: indices, augmentation: augmentation, epoch: epoch, threads: threads)
        let images = channelsLastImages(batch.images, batch: indices.count, height: batch.height, width: batch.width)
        let (logits, pullback) = model.forward(images, batch: indices.count, ForwardContext(training: true))
        let (loss, gradient) = TaskLoss.crossEntropy(logits, labels: batch.labels.prefix(indices.count).map(Float.init))
        pullback(gradient)
        return loss
    }

    /// Top-1 accuracy on the validation split, in %.
    public func evaluate() throws -> (tasks: [String: TaskMetric], extra: [String: Double]) {
        var evalBatch = ClassificationBatch(size: config.batchSize, height: validation.height, width: validation.width)
        var correct = 0, loss = 0.0
        var start = 0
        while start < validation.count {
            let indices = Array(start..<min(validation.count, start + config.batchSize))
            try validation.fill(&evalBatch, indices: indices, threads: threads)
            let images = channelsLastImages(evalBatch.images, batch: indices.count, height: evalBatch.height,
                                            width: evalBatch.width)
            let (logits, _) = model.forward(images, batch: indices.count, ForwardContext(training: false))
            let labels = evalBatch.labels.prefix(indices.count).map(Float.init)
            loss += TaskLoss.crossEntropy(logits, labels: labels).0 * Double(indices.count)
            for b in 0..<indices.count {
                let row = logits.values[(b * logits.columns)..<((b + 1) * logits.columns)]
                if row.indices.max(by: { row[$0] < row[$1] })! - row.startIndex == Int(labels[b]) { correct += 1 }
            }
            start += config.batchSize
        }
        let top1 = 100 * Double(correct) / Double(max(1, validation.count))
        return (["upstream": TaskMetric(name: "top1", value: top1, direction: .higher)],
                ["top1": top1, "val_loss": loss / Double(max(1, validation.count))])
    }

    /// The pretrained backbone is the product of this run: counts are the backbone's.
    public var parameterCounts: ParameterCounts {
        let backbone = model.backbone.parameters.map(\.count).reduce(0, +)
        let all = model.parameters.map(\.count).reduce(0, +)
        return ParameterCounts(trainable: all, total: all, decoder: 0, backbone: backbone)
    }

    public func forwardGMACs() -> Double {
        let counter = MACCounter()
        let size = config.imageSize
        _ = model.forward(Matrix(zeros: size * size, 3), batch: 1, ForwardContext(training: false, macs: counter))
        return Double(counter.total) / 1e9
    }

    /// `backbone.safetensors`: backbone and classifier in timm's names (loaders ignore `head.*`).
    public func writeArtifacts(to directory: URL) throws -> [String: String] {
        var file = model.backbone.exportWeights()
        for parameter in model.head.parameters { file.tensors[parameter.name] = parameter.stored }
        try file.write(to: directory.appendingPathComponent(Self.artifactName))
        return ["backbone": Self.artifactName]
    }
}
