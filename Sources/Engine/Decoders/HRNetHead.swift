import Foundation

/// The HRNet head of MTLoRA, one per task: 1x1 projections of the four features to
/// `channels` (no bias), bilinear upsampling of features 2-4 to feature 1's resolution,
/// concatenation, 1x1 conv -> BatchNorm -> ReLU -> 1x1 conv to the task's outputs, and bilinear
/// upsampling to the input size.
public final class HRNetHead: DecoderHead {
    public let projections: [Linear]
    public let fuse: Linear
    public let norm: BatchNorm
    public let classify: Linear
    public let outputs: Int

    public init(name: String, featureChannels: [Int], channels: [Int], outputs: Int, seed: Int) {
        let initializer = ParameterInitializer(seed: UInt64(seed))
        self.outputs = outputs
        projections = taskProjections(name: name, featureChannels: featureChannels, channels: channels,
                                      initializer: initializer)
        let total = channels.reduce(0, +)
        fuse = Linear(name: name + ".fuse", inFeatures: total, outFeatures: total, role: .decoder, initializer: initializer)
        norm = BatchNorm(name: name + ".norm", features: total, role: .decoder)
        classify = Linear(name: name + ".classify", inFeatures: total, outFeatures: outputs, role: .decoder,
                          initializer: initializer)
    }

    public var parameters: [Parameter] {
        projections.flatMap(\.parameters) + fuse.parameters + norm.parameters + classify.parameters
    }

    public func forward(_ features: [FeatureMap], batch: Int, size: Int, _ context: ForwardContext)
        -> (Matrix, (Matrix) -> [Matrix]) {
        let (stacked, scalesPullback) = fuseScales(features, through: projections.map { [$0] }, batch: batch, context)
        let (fused, fusePullback) = normalizedReLU(fuse.forward(stacked.values, context), norm, context)
        let (output, predictPullback) = classifyAndUpsample(
            FeatureMap(values: fused, height: stacked.height, width: stacked.width), classify, batch: batch, size: size,
            context)
        return (output, { scalesPullback(fusePullback(predictPullback($0))) })
    }
}
