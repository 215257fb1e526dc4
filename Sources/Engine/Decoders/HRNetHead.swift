import Foundation

/// The HRNet head of MTLoRA, one per task: 1x1 projections of the four features to
/// `channels` (no bias), bilinear upsampling of features 2-4 to feature 1's resolution,
/// concatenation (s = Σ channels), 1x1 conv widening to 4s -> BatchNorm -> ReLU -> 1x1 conv to
/// the task's outputs, and bilinear upsampling to the input size.
public final class HRNetHead: DecoderHead {
    /// MTLoRA's head (HRNet's last layer) widens the concatenated features fourfold before the
    /// classifier; at Swin-T this layer holds most of the head's parameters.
    public static let widening = 4

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
        let concatenated = channels.reduce(0, +), widened = Self.widening * concatenated
        fuse = Linear(name: name + ".fuse", inFeatures: concatenated, outFeatures: widened, role: .decoder,
                      initializer: initializer)
        norm = BatchNorm(name: name + ".norm", features: widened, role: .decoder)
        classify = Linear(name: name + ".classify", inFeatures: widened, outFeatures: outputs, role: .decoder,
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
