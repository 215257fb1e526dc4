import Foundation

/// What the decoders, the methods and pretraining see of a backbone (Swin or PVT-v2): four
/// feature maps, in the streams a method's layout asks for, and the blocks whose linears the
/// methods wrap.
public protocol Backbone: AnyObject {
    var shape: BackboneShape { get }
    var imageSize: Int { get }
    var parameters: [Parameter] { get }
    /// MTLoRA's "others", which the adapter methods may train beside their modules: what is
    /// neither an adaptable linear nor attention's own weights (patch embedding and merging,
    /// LayerNorms, position encodings), as each family declares it.
    var otherParameters: [Parameter] { get }
    /// Channels and sides of the four decoder features.
    var featureChannels: [Int] { get }
    var featureSides: [Int] { get }
    /// Each stage's blocks, first to last.
    var stageBlocks: [[any AdaptableBlock]] { get }
    /// Each stage's patch-merging reduction (Swin's stages 2-4; nil where a stage has none).
    var patchMergings: [PatchMerging?] { get }
    /// The LayerNorm the classification head applies to the last feature before pooling
    /// (Swin's `norm`; nil for PVT-v2, whose last stage ends in its own norm).
    var headNorm: LayerNorm? { get }
    /// The classifier's name in the family's timm files (`head.fc`, `head`).
    var classifierName: String { get }

    /// The four features of one stream; the pullback takes their gradients (nil where a feature
    /// got none) and accumulates the backbone's parameter gradients.
    func forward(_ images: Matrix, batch: Int, _ context: ForwardContext)
        -> (features: [FeatureMap], pullback: ([Matrix?]) -> Void)
    /// The four features of each task ([task][level]) in a method's stream layout.
    func forward(_ images: Matrix, batch: Int, _ context: ForwardContext, layout: StreamLayout, taskCount: Int)
        -> (features: [[FeatureMap]], pullback: ([[Matrix?]]) -> Void)

    /// Loads every backbone parameter from a file in timm's names (other entries are ignored).
    func load(_ file: Safetensors, path: String) throws
    /// The backbone's weights in timm's names and shapes, with the shape in the metadata.
    func exportWeights() -> Safetensors
    /// The shape a file of this family's weights implies, nil when the file is not one.
    static func inferredShape(from file: Safetensors) -> BackboneShape?
}

/// A block whose linears the methods wrap, by site.
public protocol AdaptableBlock: AnyObject {
    /// The block's linears at `site`: one each, except PVT-v2's attention input, `q` and `kv`.
    subscript(site: MethodOptions.LinearSite) -> [any LinearLayer] { get set }
    /// Stochastic depth of both residual branches in training passes (0: off).
    var dropPathRate: Float { get set }
}

extension Backbone {
    /// Parameters by timm name.
    public var namedParameters: [String: Parameter] {
        Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0) })
    }

    /// Stochastic depth as Swin's (and MTLoRA's) builds it: the rate grows linearly over the
    /// blocks, from 0 at the first to `rate` at the last (torch.linspace(0, rate, blocks)).
    public func setDropPath(rate: Double) {
        let blocks = stageBlocks.flatMap { $0 }
        for (index, block) in blocks.enumerated() {
            block.dropPathRate = blocks.count > 1 ? Float(rate * Double(index) / Double(blocks.count - 1)) : 0
        }
    }

    /// Loads the named parameters from `tensors`; every one must be there.
    func loadNamed(_ tensors: [String: StoredTensor], path: String) throws {
        let parameters = namedParameters
        let missing = parameters.keys.filter { tensors[$0] == nil }.sorted()
        guard missing.isEmpty else { throw WeightsError.missing(names: missing, file: path) }
        for (name, parameter) in parameters { try parameter.load(tensors[name]!) }
    }

    /// Loads a pretrained backbone, with errors that say which run config and file disagree.
    public func loadPretrained(from path: String) throws {
        let file = try Safetensors.read(from: URL(fileURLWithPath: path))
        let family = BackboneShape.inferred(from: file)
        if let found = family, found.family != shape.family || found.stageDims != shape.stageDims
            || found.depths != shape.depths || found.heads != shape.heads {
            throw ConfigError(file: path, key: "pretrained", message:
                "the file holds \(found.summary); the run's backbone is \(shape.summary)")
        }
        try load(file, path: path)
    }
}

extension BackboneShape {
    /// The shape a file of weights in timm's names implies (Swin or PVT-v2), nil when neither.
    public static func inferred(from file: Safetensors) -> BackboneShape? {
        SwinBackbone.inferredShape(from: file) ?? PVTBackbone.inferredShape(from: file)
    }

    /// The shape in words, for errors.
    var summary: String {
        switch family {
        case .swin: return "a Swin backbone with embed_dim \(embedDim), depths \(depths), heads \(heads)"
        case .pvtV2: return "a PVT-v2 backbone with widths \(widths), depths \(depths), heads \(heads)"
        }
    }
}
