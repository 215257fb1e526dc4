import Foundation
import RunContract
import Tensors

/// A backbone (Swin or PVT-v2, as the shape says) with one decoder head per task.
public final class MultiTaskModel {
    public let backbone: any Backbone
    public let tasks: [TaskName]
    public let heads: [TaskName: any DecoderHead]
    public let decoder: DecoderSpec
    public let imageSize: Int

    /// `outputs`: channels each task predicts (classes, 1, 3).
    public init(shape: BackboneShape, imageSize: Int, tasks: [TaskName], outputs: [TaskName: Int],
                decoder: DecoderSpec, seed: Int) {
        backbone = shape.makeBackbone(imageSize: imageSize, seed: seed)
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
    /// prediction gradient and accumulates every trainable parameter's gradient. `layout` says
    /// which backbone stream each task's head reads (shared, MTLoRA's task streams, TGLoRA's
    /// group streams); `spectral`, FAAR's TS-PD, adapts each task's features before its head.
    public func forward(_ images: Matrix, batch: Int, _ context: ForwardContext, layout: StreamLayout = .shared,
                        spectral: TaskSpectralInputs? = nil)
        -> (predictions: [TaskName: Matrix], pullback: ([TaskName: Matrix]) -> Void) {
        let (features, backbonePullback) = backbone.forward(images, batch: batch, context, layout: layout,
                                                            taskCount: tasks.count)
        let (predictions, decoderPullback) = decode(features, batch: batch, context, spectral: spectral)
        let frozen = backboneIsFrozen
        return (predictions, { gradients in
            let featureGradients = decoderPullback(gradients)
            if !frozen { backbonePullback(featureGradients) }
        })
    }

    /// The decoding half of `forward`: each task's head (behind TS-PD when given) on that task's
    /// features ([task][level]). The pullback returns the features' gradients (nil where none).
    public func decode(_ features: [[FeatureMap]], batch: Int, _ context: ForwardContext, spectral: TaskSpectralInputs?)
        -> (predictions: [TaskName: Matrix], pullback: ([TaskName: Matrix]) -> [[Matrix?]]) {
        var inputs = features
        var spectralPullback: (([[Matrix]]) -> [[Matrix]])?
        if let spectral {
            precondition(spectral.tasks == tasks, "TS-PD must serve the model's tasks in order")
            (inputs, spectralPullback) = spectral.forward(features, batch: batch, context)
        }
        // The heads share nothing (their own parameters, gradients and BatchNorm statistics), so
        // they run side by side on the compute threads, each on one thread, forward and backward;
        // the backbone sums their feature gradients in task order as before.
        let headInputs = inputs
        var outputs = [(prediction: Matrix, pullback: (Matrix) -> [Matrix])?](repeating: nil, count: tasks.count)
        outputs.withUnsafeMutableBufferPointer { outputs in
            ComputeThreads.spread(tasks.count) { t in
                outputs[t] = self.heads[self.tasks[t]]!.forward(headInputs[t], batch: batch, size: self.imageSize, context)
            }
        }
        var predictions: [TaskName: Matrix] = [:]
        for (t, task) in tasks.enumerated() { predictions[task] = outputs[t]!.prediction }
        let headPullbacks = outputs.map { $0!.pullback }
        return (predictions, { gradients in
            var featureGradients = [[Matrix?]](repeating: [], count: self.tasks.count)
            featureGradients.withUnsafeMutableBufferPointer { featureGradients in
                ComputeThreads.spread(self.tasks.count) { t in
                    featureGradients[t] = gradients[self.tasks[t]].map { headPullbacks[t]($0) }
                        ?? Array(repeating: nil, count: headInputs[t].count)
                }
            }
            guard let spectralPullback else { return featureGradients }
            // TS-PD's pullback wants every task's gradient; a task without one contributes zeros.
            let complete = featureGradients.enumerated().map { t, perLevel in
                perLevel.enumerated().map { level, g in
                    g ?? Matrix(zeros: inputs[t][level].values.rows, inputs[t][level].channels)
                }
            }
            return spectralPullback(complete).map { $0.map(Optional.some) }
        })
    }

    /// Forward MACs for one image, counted by the layers themselves; work done once per pass
    /// (DoRA's norms) counts its share of a pass over `imagesPerPass` images (the training batch).
    public func forwardMACs(layout: StreamLayout = .shared, spectral: TaskSpectralInputs? = nil,
                            imagesPerPass: Int = 1) -> Int {
        let counter = MACCounter()
        let pixels = Matrix(zeros: imageSize * imageSize, 3)
        _ = forward(pixels, batch: 1, ForwardContext(training: false, macs: counter, imagesPerPass: imagesPerPass),
                    layout: layout, spectral: spectral)
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
