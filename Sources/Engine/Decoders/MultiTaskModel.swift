import Foundation
import RunContract

/// The Swin backbone with one decoder head per task.
public final class MultiTaskModel {
    public let backbone: SwinBackbone
    public let tasks: [TaskName]
    public let heads: [TaskName: any DecoderHead]
    public let decoder: DecoderSpec
    public let imageSize: Int

    /// `outputs`: channels each task predicts (classes, 1, 3).
    public init(shape: BackboneShape, imageSize: Int, tasks: [TaskName], outputs: [TaskName: Int],
                decoder: DecoderSpec, seed: Int) {
        backbone = SwinBackbone(shape: shape, imageSize: imageSize, seed: seed)
        self.tasks = tasks
        self.imageSize = imageSize
        self.decoder = decoder
        var heads: [TaskName: any DecoderHead] = [:]
        for (index, task) in tasks.enumerated() {
            heads[task] = decoder.head(name: "decoders.\(task.rawValue)", featureChannels: backbone.featureChannels,
                                       outputs: outputs[task]!, seed: seed &+ 1000 * (index + 1))
        }
        self.heads = heads
    }

    /// The model with HRNet heads of the given projection widths.
    public convenience init(shape: BackboneShape, imageSize: Int, tasks: [TaskName], outputs: [TaskName: Int],
                            decoderChannels: [Int], seed: Int) {
        var decoder = DecoderSpec.defaults(.hrnet, embedDim: shape.embedDim, imageSize: imageSize)
        decoder.channels = decoderChannels
        self.init(shape: shape, imageSize: imageSize, tasks: tasks, outputs: outputs, decoder: decoder, seed: seed)
    }

    public var parameters: [Parameter] { backbone.parameters + tasks.flatMap { heads[$0]!.parameters } }

    /// Freezes the backbone (no gradient buffers, no backward pass through it).
    public func freezeBackbone() { for parameter in backbone.parameters { parameter.setTrainable(false) } }

    var backboneIsFrozen: Bool { !backbone.parameters.contains(where: \.isTrainable) }

    /// Predictions per task, channels-last [batch * size², outputs]; the pullback takes each task's
    /// prediction gradient and accumulates every trainable parameter's gradient.
    public func forward(_ images: Matrix, batch: Int, _ context: ForwardContext)
        -> (predictions: [TaskName: Matrix], pullback: ([TaskName: Matrix]) -> Void) {
        let (features, backbonePullback) = backbone.forward(images, batch: batch, context)
        var predictions: [TaskName: Matrix] = [:]
        var headPullbacks: [TaskName: (Matrix) -> [Matrix]] = [:]
        for task in tasks {
            let (prediction, pullback) = heads[task]!.forward(features, batch: batch, size: imageSize, context)
            predictions[task] = prediction
            headPullbacks[task] = pullback
        }
        let frozen = backboneIsFrozen
        return (predictions, { gradients in
            var featureGradients: [Matrix?] = Array(repeating: nil, count: features.count)
            for task in self.tasks {
                guard let gradient = gradients[task] else { continue }
                for (index, g) in headPullbacks[task]!(gradient).enumerated() {
                    featureGradients[index] = featureGradients[index].map { $0 + g } ?? g
                }
            }
            if !frozen { backbonePullback(featureGradients) }
        })
    }

    /// Forward MACs for one image, counted by the layers themselves.
    public func forwardMACs() -> Int {
        let counter = MACCounter()
        let pixels = Matrix(zeros: imageSize * imageSize, 3)
        _ = forward(pixels, batch: 1, ForwardContext(training: false, macs: counter))
        return counter.total
    }

    /// MTLoRA's convention: trainable = parameters that receive gradients; backbone and decoder
    /// totals include frozen ones; BatchNorm statistics are not parameters.
    public var parameterCounts: ParameterCounts {
        let learned = parameters.filter { $0.role != .statistic }
        return ParameterCounts(
            trainable: learned.filter(\.isTrainable).map(\.count).reduce(0, +),
            total: learned.map(\.count).reduce(0, +),
            decoder: learned.filter { $0.role == .decoder }.map(\.count).reduce(0, +),
            backbone: learned.filter { $0.role == .backbone }.map(\.count).reduce(0, +))
    }
}
