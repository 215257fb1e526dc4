/// What a run does.
public enum RunKind: String, CaseIterable, Sendable, Codable {
    /// Classification on the upstream set; produces `backbone.safetensors`.
    case pretrain
    /// Full fine-tuning of backbone and one decoder on one task.
    case singleTask = "single_task"
    /// Full fine-tuning of the backbone and every task's decoder.
    case mtlFull = "mtl_full"
    /// Frozen pretrained backbone; only the decoders learn.
    case mtlDecoders = "mtl_decoders"
    /// TGLoRA's task similarity: the decoders learn on a frozen pretrained backbone, then the
    /// per-task gradients of the backbone give `similarity.json`.
    case taskSimilarity = "task_similarity"
    /// No model: each task's best constant prediction, fitted on the training split and scored on
    /// the validation split (the "Trivial" row: how far above it every column is).
    case trivial
}

public enum DatasetName: String, CaseIterable, Sendable, Codable {
    case pascal, nyud

    public var tasks: [TaskName] {
        switch self {
        case .pascal: return [.semseg, .humanParts, .saliency, .normals]
        case .nyud: return [.semseg, .depth, .normals]
        }
    }
}

public enum TaskName: String, CaseIterable, Sendable, Codable, Comparable {
    case semseg
    case humanParts = "human_parts"
    case saliency, normals, depth

    /// The loss weights of MTLoRA's and TGLoRA's PASCAL / NYUD setups.
    public var paperLossWeight: Double {
        switch self {
        case .semseg: return 1
        case .humanParts: return 2
        case .saliency: return 5
        case .normals: return 10
        case .depth: return 1
        }
    }

    public static func < (a: TaskName, b: TaskName) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public enum DecoderKind: String, CaseIterable, Sendable, Codable {
    case hrnet, segformer, aspp
}

/// The shape of a hierarchical backbone: Swin (window attention, patch merging) or PVT-v2
/// (spatial-reduction attention, overlapping patch embeddings, a depthwise conv in the MLP).
public struct BackboneShape: Sendable, Equatable, Codable {
    public enum Family: String, Sendable, Codable, CaseIterable {
        case swin
        case pvtV2 = "pvt_v2"
    }

    public var name: String
    public var embedDim: Int
    public var depths: [Int]
    public var heads: [Int]
    public var window: Int
    public var mlpRatio: Int = 4
    public var patchSize: Int = 4
    public var family: Family = .swin
    /// PVT-v2: each stage's channels (timm's `embed_dims`), its key/value reduction (`sr_ratios`)
    /// and MLP ratio (`mlp_ratios`). Empty for Swin, whose channels double stage by stage.
    public var widths: [Int] = []
    public var spatialReductions: [Int] = []
    public var mlpRatios: [Int] = []

    public init(name: String, embedDim: Int, depths: [Int], heads: [Int], window: Int) {
        self.name = name; self.embedDim = embedDim; self.depths = depths; self.heads = heads; self.window = window
    }

    /// A PVT-v2 shape (timm's PyramidVisionTransformerV2 arguments; qkv_bias on, linear off).
    public static func pvtV2(name: String, widths: [Int], depths: [Int], heads: [Int],
                             spatialReductions: [Int] = [8, 4, 2, 1], mlpRatios: [Int] = [8, 8, 4, 4]) -> BackboneShape {
        var shape = BackboneShape(name: name, embedDim: widths[0], depths: depths, heads: heads, window: 0)
        shape.family = .pvtV2
        shape.widths = widths
        shape.spatialReductions = spatialReductions
        shape.mlpRatios = mlpRatios
        return shape
    }

    /// Channels of each stage's output: Swin's C, 2C, 4C, 8C; PVT-v2's widths.
    public var stageDims: [Int] { family == .pvtV2 ? widths : depths.indices.map { embedDim << $0 } }

    /// The small shapes serve the smoke and default profiles; the others are the real shapes
    /// (timm's swin_*_patch4_window7_224 and pvt_v2_b0 ... b2). pvt_v2_nano and pvt_v2_mini are
    /// ours: swin_nano's and swin_mini's widths and depths with PVT-v2's heads, reductions and
    /// MLP ratios (b0's), for 32- and 64-pixel inputs.
    public static let named: [BackboneShape] = [
        BackboneShape(name: "swin_nano", embedDim: 16, depths: [1, 1, 1, 1], heads: [1, 2, 4, 8], window: 4),
        BackboneShape(name: "swin_mini", embedDim: 32, depths: [2, 2, 2, 2], heads: [1, 2, 4, 8], window: 4),
        BackboneShape(name: "swin_t", embedDim: 96, depths: [2, 2, 6, 2], heads: [3, 6, 12, 24], window: 7),
        BackboneShape(name: "swin_s", embedDim: 96, depths: [2, 2, 18, 2], heads: [3, 6, 12, 24], window: 7),
        BackboneShape(name: "swin_b", embedDim: 128, depths: [2, 2, 18, 2], heads: [4, 8, 16, 32], window: 7),
        BackboneShape(name: "swin_l", embedDim: 192, depths: [2, 2, 18, 2], heads: [6, 12, 24, 48], window: 7),
        .pvtV2(name: "pvt_v2_nano", widths: [16, 32, 64, 128], depths: [1, 1, 1, 1], heads: [1, 2, 4, 8]),
        .pvtV2(name: "pvt_v2_mini", widths: [32, 64, 128, 256], depths: [2, 2, 2, 2], heads: [1, 2, 4, 8]),
        .pvtV2(name: "pvt_v2_b0", widths: [32, 64, 160, 256], depths: [2, 2, 2, 2], heads: [1, 2, 5, 8]),
        .pvtV2(name: "pvt_v2_b1", widths: [64, 128, 320, 512], depths: [2, 2, 2, 2], heads: [1, 2, 5, 8]),
        .pvtV2(name: "pvt_v2_b2", widths: [64, 128, 320, 512], depths: [3, 4, 6, 3], heads: [1, 2, 5, 8]),
    ]

    public static func named(_ name: String) -> BackboneShape? { named.first { $0.name == name } }

    /// A new backbone of this shape.
    public func makeBackbone(imageSize: Int, seed: Int) -> any Backbone {
        switch family {
        case .swin: return SwinBackbone(shape: self, imageSize: imageSize, seed: seed)
        case .pvtV2: return PVTBackbone(shape: self, imageSize: imageSize, seed: seed)
        }
    }
}

/// A run's scale. Keys a config sets explicitly win over the profile's values.
public enum Profile: String, CaseIterable, Sendable, Codable {
    case smoke, `default`, paper

    public struct Values: Sendable {
        public var backbone: String
        public var imageSize: Int
        public var epochs: Int
        public var batchSize: Int
        public var trainImages: Int
        public var valImages: Int
        public var lr: Double
        public var warmupEpochs: Double
    }

    /// Values for fine-tuning runs.
    public var values: Values {
        switch self {
        case .smoke:
            return Values(backbone: "swin_nano", imageSize: 32, epochs: 2, batchSize: 4, trainImages: 8,
                          valImages: 4, lr: 1e-3, warmupEpochs: 0.5)
        case .default:
            // 512 validation images: their bootstrap noise is reported with every run's metrics.
            return Values(backbone: "swin_mini", imageSize: 64, epochs: 10, batchSize: 16, trainImages: 256,
                          valImages: 512, lr: 1e-3, warmupEpochs: 1)
        case .paper:
            // PASCAL-Context's split sizes; the papers' schedule (300 epochs, 20 of warm-up, batch 32).
            return Values(backbone: "swin_t", imageSize: 224, epochs: 300, batchSize: 32, trainImages: 4998,
                          valImages: 5105, lr: 1e-4, warmupEpochs: 20)
        }
    }

    /// Values for pretraining runs on the upstream set. The default profile's pretraining runs
    /// once per grid, so it takes a larger share of the budget: 2048 steps at a lower peak rate
    /// (1e-3 left the 20-way task near chance; docs/engine.md, "Training recipe").
    public var pretrainValues: Values {
        var values = self.values
        switch self {
        case .smoke: values.trainImages = 16
        case .default: values.trainImages = 4096; values.valImages = 400; values.epochs = 8; values.lr = 3e-4
        case .paper: values.trainImages = 100_000; values.valImages = 10_000; values.epochs = 90
        }
        return values
    }
}
