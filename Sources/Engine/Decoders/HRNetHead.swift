import Foundation

/// The HRNet head of MTLoRA, one per task: 1x1 projections of the four features to
/// `channels` (no bias), bilinear upsampling of features 2-4 to feature 1's resolution,
/// concatenation, 1x1 conv -> BatchNorm -> ReLU -> 1x1 conv to the task's outputs, and bilinear
/// upsampling to the input size.
public final class HRNetHead {
    public let projections: [Linear]
    public let fuse: Linear
    public let norm: BatchNorm
    public let classify: Linear
    public let outputs: Int

    public init(name: String, featureChannels: [Int], channels: [Int], outputs: Int, seed: Int,
                initialization: LinearInitialization = .pytorchConvolution) {
        let initializer = ParameterInitializer(seed: UInt64(seed))
        self.outputs = outputs
        projections = zip(featureChannels, channels).enumerated().map { index, pair in
            Linear(name: "\(name).project.\(index)", inFeatures: pair.0, outFeatures: pair.1, bias: false,
                   role: .decoder, initializer: initializer, initialization: initialization)
        }
        let total = channels.reduce(0, +)
        fuse = Linear(name: name + ".fuse", inFeatures: total, outFeatures: total, role: .decoder, initializer: initializer,
                      initialization: initialization)
        norm = BatchNorm(name: name + ".norm", features: total, role: .decoder)
        classify = Linear(name: name + ".classify", inFeatures: total, outFeatures: outputs, role: .decoder,
                          initializer: initializer, initialization: initialization)
    }

    public var parameters: [Parameter] {
        projections.flatMap(\.parameters) + fuse.parameters + norm.parameters + classify.parameters
    }

    /// Returns channels-last predictions [batch * size², outputs]; the pullback gives each
    /// feature's gradient.
    public func forward(_ features: [FeatureMap], batch: Int, size: Int, _ context: ForwardContext)
        -> (Matrix, (Matrix) -> [Matrix]) {
        let target = (height: features[0].height, width: features[0].width)
        var maps: [Matrix] = []
        var mapPullbacks: [Pullback] = []
        for (feature, projection) in zip(features, projections) {
            let (projected, projectPullback) = projection.forward(feature.values, context)
            if feature.height == target.height && feature.width == target.width {
                maps.append(projected)
                mapPullbacks.append(projectPullback)
            } else {
                let (resized, resizePullback) = resizeBilinear(
                    projected, batch: batch, from: (feature.height, feature.width), to: target, context)
                maps.append(resized)
                mapPullbacks.append { projectPullback(resizePullback($0)) }
            }
        }
        let (stacked, _) = concatenateColumns(maps)
        let (fused, fusePullback) = fuse.forward(stacked, context)
        let (normalized, normPullback) = norm.forward(fused, context)
        let (activated, reluPullback) = relu(normalized)
        let (logits, classifyPullback) = classify.forward(activated, context)
        let (output, resizePullback) = resizeBilinear(logits, batch: batch, from: target, to: (size, size), context)
        let widths = maps.map(\.columns)
        return (output, { dOutput in
            let dStacked = fusePullback(normPullback(reluPullback(classifyPullback(resizePullback(dOutput)))))
            return zip(splitColumns(dStacked, widths: widths), mapPullbacks).map { $1($0) }
        })
    }
}
