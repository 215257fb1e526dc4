import Foundation

/// A task's decoder: the four multi-scale features in, the task's predictions at the input
/// resolution out. `MultiTaskModel` holds one per task, of the kind the run config's `decoder`
/// names; FAAR's TS-PD works in front of any of them, on the features they receive.
public protocol DecoderHead: AnyObject {
    /// Channels the head predicts (classes, 1, 3).
    var outputs: Int { get }
    var parameters: [Parameter] { get }
    /// The last 1x1 layer, whose bias starts at the class prior for segmentation tasks.
    var classify: Linear { get }
    /// Returns channels-last predictions [batch * size², outputs]; the pullback takes their
    /// gradient, accumulates the head's parameter gradients and returns each feature's gradient.
    func forward(_ features: [FeatureMap], batch: Int, size: Int, _ context: ForwardContext)
        -> (Matrix, (Matrix) -> [Matrix])
}

/// The decoder a run uses, with the widths that scale with the model.
public struct DecoderSpec: Sendable, Equatable {
    public var kind: DecoderKind
    /// Every head's per-task 1x1 projections of the four features (MTLoRA's "downsampler").
    public var channels: [Int]
    /// SegFormer's embedding width and the ASPP head's branch width (256 in the papers' Swin-T).
    public var width: Int
    /// The ASPP head's three dilation rates.
    public var atrousRates: [Int]

    public init(kind: DecoderKind, channels: [Int], width: Int, atrousRates: [Int]) {
        self.kind = kind; self.channels = channels; self.width = width; self.atrousRates = atrousRates
    }

    /// MTLoRA's widths for Swin-T (C = 96) scaled by C/96, and DeepLab's rates scaled to the
    /// stage-1 feature side (MTLoRA's Swin-T at 448 px feeds 56 x 56 maps to rates 12, 24, 36).
    public static func defaults(_ kind: DecoderKind, embedDim: Int, imageSize: Int) -> DecoderSpec {
        let side = Double(imageSize / 8)
        return DecoderSpec(kind: kind, channels: defaultChannels(embedDim: embedDim),
                           width: max(8, (256 * embedDim + 48) / 96),
                           atrousRates: [12, 24, 36].map { max(1, Int((Double($0) * side / 56).rounded())) })
    }

    /// HRNet's [18, 36, 72, 144] at Swin-T, scaled by C/96 and at least 4.
    public static func defaultChannels(embedDim: Int) -> [Int] {
        [18, 36, 72, 144].map { max(4, ($0 * embedDim + 48) / 96) }
    }

    /// One task's head of this kind, its parameters named `name.*`.
    public func head(name: String, featureChannels: [Int], outputs: Int, seed: Int) -> any DecoderHead {
        switch kind {
        case .hrnet:
            return HRNetHead(name: name, featureChannels: featureChannels, channels: channels, outputs: outputs, seed: seed)
        case .segformer:
            return SegFormerHead(name: name, featureChannels: featureChannels, channels: channels, width: width,
                                 outputs: outputs, seed: seed)
        case .aspp:
            return ASPPHead(name: name, featureChannels: featureChannels, channels: channels, width: width,
                            atrousRates: atrousRates, outputs: outputs, seed: seed)
        }
    }
}

/// The per-task 1x1 projections (no bias) of the four features in front of every head
/// (MTLoRA's "downsampler"), named `name.project.i`.
func taskProjections(name: String, featureChannels: [Int], channels: [Int], initializer: ParameterInitializer) -> [Linear] {
    zip(featureChannels, channels).enumerated().map { index, pair in
        Linear(name: "\(name).project.\(index)", inFeatures: pair.0, outFeatures: pair.1, bias: false, role: .decoder,
               initializer: initializer)
    }
}

/// The fusion every head starts with: each feature through its own chain of 1x1 layers,
/// bilinear upsampling to the first feature's resolution, concatenation.
/// Returns the fused map [batch * H1 * W1, sum of the chains' widths].
func fuseScales(_ features: [FeatureMap], through chains: [[Linear]], batch: Int, _ context: ForwardContext)
    -> (FeatureMap, (Matrix) -> [Matrix]) {
    let target = (height: features[0].height, width: features[0].width)
    var maps: [Matrix] = []
    var pullbacks: [Pullback] = []
    for (feature, chain) in zip(features, chains) {
        var x = feature.values
        var chainPullbacks: [Pullback] = []
        for layer in chain {
            let (y, pullback) = layer.forward(x, context)
            x = y
            chainPullbacks.append(pullback)
        }
        if feature.height != target.height || feature.width != target.width {
            let (resized, pullback) = resizeBilinear(x, batch: batch, from: (feature.height, feature.width), to: target,
                                                     context)
            x = resized
            chainPullbacks.append(pullback)
        }
        maps.append(x)
        pullbacks.append { gradient in chainPullbacks.reversed().reduce(gradient) { $1($0) } }
    }
    let (stacked, _) = concatenateColumns(maps)
    let widths = maps.map(\.columns)
    return (FeatureMap(values: stacked, height: target.height, width: target.width), { gradient in
        zip(splitColumns(gradient, widths: widths), pullbacks).map { $1($0) }
    })
}

/// The last step of every head: a 1x1 classifier, then bilinear upsampling to the input size.
func classifyAndUpsample(_ x: FeatureMap, _ classify: Linear, batch: Int, size: Int, _ context: ForwardContext)
    -> (Matrix, Pullback) {
    let (logits, classifyPullback) = classify.forward(x.values, context)
    let (output, resizePullback) = resizeBilinear(logits, batch: batch, from: (x.height, x.width), to: (size, size),
                                                  context)
    return (output, { classifyPullback(resizePullback($0)) })
}

/// A 1x1 conv (no bias, as before a BatchNorm) -> BatchNorm -> ReLU, the unit SegFormer's fuse
/// and every ASPP branch are made of.
final class ConvNormReLU {
    let conv: Linear
    let norm: BatchNorm

    init(name: String, inputs: Int, outputs: Int, initializer: ParameterInitializer) {
        conv = Linear(name: name + ".conv", inFeatures: inputs, outFeatures: outputs, bias: false, role: .decoder,
                      initializer: initializer)
        norm = BatchNorm(name: name + ".norm", features: outputs, role: .decoder)
    }

    var parameters: [Parameter] { conv.parameters + norm.parameters }

    func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
        normalizedReLU(conv.forward(x, context), norm, context)
    }
}

/// BatchNorm then ReLU on a layer's output, chaining the layer's pullback.
func normalizedReLU(_ layerOutput: (Matrix, Pullback), _ norm: BatchNorm, _ context: ForwardContext) -> (Matrix, Pullback) {
    let (y, layerPullback) = layerOutput
    let (activated, pullback) = norm.forward(y, context, relu: true)
    return (activated, { layerPullback(pullback($0)) })
}

extension DecoderSpec {
    /// The decoder a validated run config selects, with the scaled defaults for every width it
    /// leaves out. Width keys of another head are errors naming the key and its line.
    public init(config: RunConfig, file: String, text: String? = nil) throws {
        let values = config.values
        func fail(_ key: String, _ message: String) -> ConfigError {
            ConfigError(file: file, line: text.flatMap { lineOfKey(key, in: $0) }, key: key, message: message)
        }
        self = .defaults(config.decoder, embedDim: config.backbone.embedDim, imageSize: config.imageSize)
        channels = config.decoderChannels
        if let width = values["decoder_width"]?.integerValue {
            guard kind != .hrnet else {
                throw fail("decoder_width", "only the segformer and aspp decoders take it; decoder is hrnet")
            }
            self.width = width
        }
        if let rates = values["aspp_rates"]?.integerValues {
            guard kind == .aspp else { throw fail("aspp_rates", "only decoder aspp takes it; decoder is \(kind.rawValue)") }
            atrousRates = rates
        }
    }
}
