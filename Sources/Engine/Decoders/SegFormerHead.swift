import Foundation

/// SegFormer's all-MLP decoder as MTLoRA's code plugs it in, one per task: the per-task 1x1
/// projections of the four features to `channels` (no bias, as in front of every head), per
/// scale a linear embedding to `width`, bilinear upsampling to feature 1's resolution,
/// concatenation, the fuse (1x1 conv without bias -> BatchNorm -> ReLU) to `width`, a linear
/// prediction, and bilinear upsampling to the input size.
public final class SegFormerHead: DecoderHead {
    public let projections: [Linear]
    public let embeddings: [Linear]
    let fuse: ConvNormReLU
    public let classify: Linear
    public let outputs: Int

    public init(name: String, featureChannels: [Int], channels: [Int], width: Int, outputs: Int, seed: Int) {
        let initializer = ParameterInitializer(seed: UInt64(seed))
        self.outputs = outputs
        projections = taskProjections(name: name, featureChannels: featureChannels, channels: channels,
                                      initializer: initializer)
        embeddings = channels.enumerated().map { index, inputs in
            Linear(name: "\(name).embed.\(index)", inFeatures: inputs, outFeatures: width, role: .decoder,
                   initializer: initializer)
        }
        fuse = ConvNormReLU(name: name + ".fuse", inputs: width * channels.count, outputs: width, initializer: initializer)
        classify = Linear(name: name + ".classify", inFeatures: width, outFeatures: outputs, role: .decoder,
                          initializer: initializer)
    }

    public var parameters: [Parameter] {
        projections.flatMap(\.parameters) + embeddings.flatMap(\.parameters) + fuse.parameters + classify.parameters
    }

    public func forward(_ features: [FeatureMap], batch: Int, size: Int, _ context: ForwardContext)
        -> (Matrix, (Matrix) -> [Matrix]) {
        // Embedding before upsampling, as SegFormer: the linear runs on the small maps.
        let (stacked, scalesPullback) = fuseScales(features, through: zip(projections, embeddings).map { [$0, $1] },
                                                   batch: batch, context)
        let (fused, fusePullback) = fuse.forward(stacked.values, context)
        let (output, predictPullback) = classifyAndUpsample(
            FeatureMap(values: fused, height: stacked.height, width: stacked.width), classify, batch: batch, size: size,
            context)
        return (output, { scalesPullback(fusePullback(predictPullback($0))) })
    }
}
