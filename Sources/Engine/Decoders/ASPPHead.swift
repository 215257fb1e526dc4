import Foundation

/// DeepLab's head with atrous spatial pyramid pooling, multi-scale as MTLoRA's code feeds it, one
/// per task: the per-task 1x1 projections of the four features to `channels` (no bias),
/// bilinear upsampling to feature 1's resolution and concatenation; then ASPP's five parallel
/// branches, each ending in BatchNorm -> ReLU: a 1x1 conv, three 3x3 convs dilated by
/// `atrousRates`, and image pooling (global average -> 1x1 conv, broadcast back over the map);
/// their concatenation through a 1x1 projection; DeepLab's 3x3 refining conv; a 1x1 prediction;
/// bilinear upsampling to the input size. Every conv before a BatchNorm has no bias.
public final class ASPPHead: DecoderHead {
    public let projections: [Linear]
    let pointwise: ConvNormReLU
    public let atrous: [Conv2d]
    let atrousNorms: [BatchNorm]
    let pooling: ConvNormReLU
    let project: ConvNormReLU
    public let refine: Conv2d
    let refineNorm: BatchNorm
    public let classify: Linear
    public let outputs: Int

    public init(name: String, featureChannels: [Int], channels: [Int], width: Int, atrousRates: [Int], outputs: Int,
                seed: Int) {
        let initializer = ParameterInitializer(seed: UInt64(seed))
        self.outputs = outputs
        projections = taskProjections(name: name, featureChannels: featureChannels, channels: channels,
                                      initializer: initializer)
        let inputs = channels.reduce(0, +)
        pointwise = ConvNormReLU(name: name + ".aspp.0", inputs: inputs, outputs: width, initializer: initializer)
        atrous = atrousRates.enumerated().map { index, rate in
            Conv2d(name: "\(name).aspp.\(index + 1).conv", inChannels: inputs, outChannels: width, dilation: rate,
                   role: .decoder, initializer: initializer)
        }
        atrousNorms = atrousRates.indices.map { BatchNorm(name: "\(name).aspp.\($0 + 1).norm", features: width, role: .decoder) }
        pooling = ConvNormReLU(name: name + ".aspp.pool", inputs: inputs, outputs: width, initializer: initializer)
        project = ConvNormReLU(name: name + ".aspp.project", inputs: (atrousRates.count + 2) * width, outputs: width,
                               initializer: initializer)
        refine = Conv2d(name: name + ".refine.conv", inChannels: width, outChannels: width, role: .decoder,
                        initializer: initializer)
        refineNorm = BatchNorm(name: name + ".refine.norm", features: width, role: .decoder)
        classify = Linear(name: name + ".classify", inFeatures: width, outFeatures: outputs, role: .decoder,
                          initializer: initializer)
    }

    public var parameters: [Parameter] {
        projections.flatMap(\.parameters) + pointwise.parameters
            + zip(atrous, atrousNorms).flatMap { $0.parameters + $1.parameters } + pooling.parameters
            + project.parameters + refine.parameters + refineNorm.parameters + classify.parameters
    }

    public func forward(_ features: [FeatureMap], batch: Int, size: Int, _ context: ForwardContext)
        -> (Matrix, (Matrix) -> [Matrix]) {
        let (x, scalesPullback) = fuseScales(features, through: projections.map { [$0] }, batch: batch, context)
        let (height, width) = (x.height, x.width)
        var branches = [pointwise.forward(x.values, context)]
        for (conv, norm) in zip(atrous, atrousNorms) {
            branches.append(normalizedReLU(conv.forward(x.values, batch: batch, height: height, width: width, context),
                                           norm, context))
        }
        let (pooled, poolPullback) = averagePool(x.values, batch: batch, plane: height * width, context)
        let (imageLevel, imagePullback) = pooling.forward(pooled, context)
        let (broadcast, broadcastPullback) = broadcastOverPlane(imageLevel, plane: height * width)
        branches.append((broadcast, { poolPullback(imagePullback(broadcastPullback($0))) }))

        let (stacked, _) = concatenateColumns(branches.map(\.0))
        let widths = branches.map(\.0.columns)
        let (projected, projectPullback) = project.forward(stacked, context)
        let (refined, refinePullback) = normalizedReLU(
            refine.forward(projected, batch: batch, height: height, width: width, context), refineNorm, context)
        let (output, predictPullback) = classifyAndUpsample(
            FeatureMap(values: refined, height: height, width: width), classify, batch: batch, size: size, context)
        return (output, { dOutput in
            let dStacked = projectPullback(refinePullback(predictPullback(dOutput)))
            var dx = Matrix(zeros: x.values.rows, x.values.columns)
            for (gradient, branch) in zip(splitColumns(dStacked, widths: widths), branches) { dx += branch.1(gradient) }
            return scalesPullback(dx)
        })
    }
}

/// The mean over each image's `plane` rows: [batch * plane, C] -> [batch, C].
func averagePool(_ x: Matrix, batch: Int, plane: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
    context.count(x.values.count)
    let scale = 1 / Float(plane)
    var y = sumOverPlane(x, batch: batch, plane: plane)
    for i in y.values.indices { y.values[i] *= scale }
    return (y, { dy in
        var dx = broadcastOverPlane(dy, plane: plane).0
        for i in dx.values.indices { dx.values[i] *= scale }
        return dx
    })
}

/// Each image's row repeated over its `plane` pixels: [batch, C] -> [batch * plane, C] (what
/// bilinear upsampling of a 1x1 map gives). The pullback sums over the plane.
func broadcastOverPlane(_ x: Matrix, plane: Int) -> (Matrix, Pullback) {
    let c = x.columns, batch = x.rows
    var y = Matrix(zeros: batch * plane, c)
    for b in 0..<batch {
        for p in 0..<plane {
            for channel in 0..<c { y.values[(b * plane + p) * c + channel] = x.values[b * c + channel] }
        }
    }
    return (y, { sumOverPlane($0, batch: batch, plane: plane) })
}

/// [batch * plane, C] -> [batch, C]: each image's rows summed.
func sumOverPlane(_ x: Matrix, batch: Int, plane: Int) -> Matrix {
    let c = x.columns
    var y = Matrix(zeros: batch, c)
    for b in 0..<batch {
        for p in 0..<plane {
            let row = (b * plane + p) * c
            for channel in 0..<c { y.values[b * c + channel] += x.values[row + channel] }
        }
    }
    return y
}
