import Foundation

/// An overlapping patch embedding (timm's `pvt_v2.OverlapPatchEmbed`): a k x k conv with stride s
/// and padding k / 2, then LayerNorm (eps 1e-5). The stem (7x7, stride 4) and every later stage's
/// downsampling (3x3, stride 2).
public final class OverlapPatchEmbedding {
    public let proj: Conv2d
    public let norm: LayerNorm

    init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, initializer: ParameterInitializer) {
        proj = Conv2d(name: name + ".proj", inChannels: inChannels, outChannels: outChannels, kernel: kernel,
                      stride: stride, padding: kernel / 2, bias: true, role: .backbone, initializer: initializer)
        norm = LayerNorm(name: name + ".norm", features: outChannels, role: .backbone)
    }

    var parameters: [Parameter] { proj.parameters + norm.parameters }

    func forward(_ x: Matrix, batch: Int, side: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        let (embedded, projPullback) = proj.forward(x, batch: batch, height: side, width: side, context)
        let (normalized, normPullback) = norm.forward(embedded, context)
        return (normalized, { projPullback(normPullback($0)) })
    }
}

/// One PVT-v2 stage (timm's `PyramidVisionTransformerStage`): an overlapping patch embedding at
/// the start of every stage but the first, the blocks, and the stage's LayerNorm (eps 1e-6).
public final class PVTStage {
    public let downsample: OverlapPatchEmbedding?
    public let blocks: [PVTBlock]
    public let norm: LayerNorm
    public let inputSide: Int
    public let side: Int

    init(index: Int, shape: BackboneShape, inputSide: Int, initializer: ParameterInitializer) {
        let dim = shape.widths[index]
        self.inputSide = inputSide
        if index == 0 {
            downsample = nil
            side = inputSide
        } else {
            let embedding = OverlapPatchEmbedding(name: "stages.\(index).downsample", inChannels: shape.widths[index - 1],
                                                  outChannels: dim, kernel: 3, stride: 2, initializer: initializer)
            downsample = embedding
            side = embedding.proj.outputSide(inputSide)
        }
        blocks = (0..<shape.depths[index]).map { [side] j in
            PVTBlock(name: "stages.\(index).blocks.\(j)", dim: dim, heads: shape.heads[index], side: side,
                     spatialReduction: shape.spatialReductions[index], mlpRatio: shape.mlpRatios[index],
                     initializer: initializer)
        }
        norm = LayerNorm(name: "stages.\(index).norm", features: dim, role: .backbone, epsilon: 1e-6)
    }

    var parameters: [Parameter] { (downsample?.parameters ?? []) + blocks.flatMap(\.parameters) + norm.parameters }
}

/// PVT-v2 (Wang et al. 2022) in timm's names and layout (`pvt_v2_b0` ... `b5`, linear off). Its
/// decoder features are the four stages' outputs (after each stage's norm): widths w1..w4 at
/// 1/4, 1/8, 1/16, 1/32 of the image. MTLoRA's task streams leave the last block of a stage and
/// pass through the stage's norm into the decoders; the shared stream goes on. TGLoRA's group
/// streams each pass through the stage's norm, into their tasks' decoders and the next stage.
public final class PVTBackbone: Backbone {
    public let shape: BackboneShape
    public let imageSize: Int
    public let patchEmbedding: OverlapPatchEmbedding
    public let stages: [PVTStage]

    public init(shape: BackboneShape, imageSize: Int, seed: Int) {
        precondition(shape.family == .pvtV2, "PVTBackbone needs a pvt_v2 shape")
        self.shape = shape; self.imageSize = imageSize
        let initializer = ParameterInitializer(seed: UInt64(seed))
        patchEmbedding = OverlapPatchEmbedding(name: "patch_embed", inChannels: 3, outChannels: shape.widths[0],
                                               kernel: 7, stride: 4, initializer: initializer)
        var side = patchEmbedding.proj.outputSide(imageSize)
        var stages: [PVTStage] = []
        for index in shape.depths.indices {
            let stage = PVTStage(index: index, shape: shape, inputSide: side, initializer: initializer)
            stages.append(stage)
            side = stage.side
        }
        self.stages = stages
    }

    public var parameters: [Parameter] { patchEmbedding.parameters + stages.flatMap(\.parameters) }
    /// The analogues of Swin's: the overlapping patch embeddings (stem and every stage's
    /// downsampling), the LayerNorms (the attention's after its key/value reduction included) and
    /// the position encoding, the MLP's depthwise conv; the reduction `sr` itself is not one.
    public var otherParameters: [Parameter] {
        patchEmbedding.parameters + stages.flatMap { stage in
            (stage.downsample?.parameters ?? []) + stage.blocks.flatMap(\.otherParameters) + stage.norm.parameters
        }
    }
    public var featureChannels: [Int] { shape.widths }
    public var featureSides: [Int] { stages.map(\.side) }
    public var stageBlocks: [[any AdaptableBlock]] { stages.map(\.blocks) }
    public var patchMergings: [PatchMerging?] { stages.map { _ in nil } }
    public var headNorm: LayerNorm? { nil }
    public var classifierName: String { "head" }

    public func forward(_ images: Matrix, batch: Int, _ context: ForwardContext)
        -> (features: [FeatureMap], pullback: ([Matrix?]) -> Void) {
        let (features, pullback) = forwardStreams(images, batch: batch, context, splitStages: [], taskCount: 1)
        return (features[0], { pullback([$0]) })
    }

    public func forward(_ images: Matrix, batch: Int, _ context: ForwardContext, layout: StreamLayout, taskCount: Int)
        -> (features: [[FeatureMap]], pullback: ([[Matrix?]]) -> Void) {
        switch layout {
        case .shared:
            return forwardStreams(images, batch: batch, context, splitStages: [], taskCount: taskCount)
        case .taskBlocks(let stages):
            return forwardStreams(images, batch: batch, context, splitStages: stages, taskCount: taskCount)
        case .taskGroups(let partitions):
            // A group's stream enters a stage through its downsampling and leaves it through its
            // norm, its tasks' feature.
            let groupStages = stages.map { stage in
                GroupStreamStage(
                    entry: stage.downsample.map { entry in { entry.forward($0, batch: batch, side: stage.inputSide, $1) } },
                    blocks: stage.blocks.map { block in { block.forward($0, batch: batch, $1) } },
                    exit: { stage.norm.forward($0, $1) }, side: stage.side)
            }
            let embedded = patchEmbedding.forward(images, batch: batch, side: imageSize, context)
            return forwardGroupStreams(groupStages, embedded: embedded, partitions: partitions, context)
        }
    }

    /// Every task's features; the last block of each stage in `splitStages` (0-based) splits
    /// into task streams (MTLoRA), which the stage's norm turns into those tasks' features.
    /// Without splits every task reads the shared stream, and its gradients add up.
    private func forwardStreams(_ images: Matrix, batch: Int, _ context: ForwardContext, splitStages: Set<Int>,
                                taskCount: Int) -> (features: [[FeatureMap]], pullback: ([[Matrix?]]) -> Void) {
        struct StageRecord {
            var entry: Pullback?
            var blocks: [Pullback] = []
            var split: ((Matrix?, [Matrix?]) -> Matrix)?
            var norm: Pullback
            /// The stage norm of each task stream, when the stage splits.
            var taskNorms: [Pullback] = []
        }
        var records: [StageRecord] = []
        var features = Array(repeating: [FeatureMap](), count: taskCount)
        let (embedded, embedPullback) = patchEmbedding.forward(images, batch: batch, side: imageSize, context)
        var x = embedded
        for (index, stage) in stages.enumerated() {
            var entry: Pullback?
            if let downsample = stage.downsample {
                (x, entry) = downsample.forward(x, batch: batch, side: stage.inputSide, context)
            }
            var blocks: [Pullback] = []
            var split: ((Matrix?, [Matrix?]) -> Matrix)?
            var taskStreams: [Matrix]?
            for (j, block) in stage.blocks.enumerated() {
                if j == stage.blocks.count - 1, splitStages.contains(index) {
                    let (shared, tasks, pullback) = block.forwardTaskStreams(x, batch: batch, taskCount: taskCount, context)
                    (x, taskStreams, split) = (shared, tasks, pullback)
                } else {
                    let (out, pullback) = block.forward(x, batch: batch, context)
                    x = out
                    blocks.append(pullback)
                }
            }
            let (normalized, normPullback) = stage.norm.forward(x, context)
            var record = StageRecord(entry: entry, blocks: blocks, split: split, norm: normPullback)
            for t in 0..<taskCount {
                var feature = normalized
                if let taskStreams {
                    let (normalizedTask, taskPullback) = stage.norm.forward(taskStreams[t], context)
                    feature = normalizedTask
                    record.taskNorms.append(taskPullback)
                }
                features[t].append(FeatureMap(values: feature, height: stage.side, width: stage.side))
            }
            records.append(record)
            x = normalized
        }
        return (features, { gradients in
            // The gradient of the current stage's normalised shared output, walking back.
            var dNormalized: Matrix?
            for (level, record) in records.enumerated().reversed() {
                var dTasks: [Matrix?] = []
                if record.taskNorms.isEmpty {
                    dNormalized = sum([dNormalized] + gradients.map { $0[level] })
                } else {
                    dTasks = record.taskNorms.indices.map { t in gradients[t][level].map(record.taskNorms[t]) }
                }
                var dShared = dNormalized.map(record.norm)
                if let split = record.split, dShared != nil || dTasks.contains(where: { $0 != nil }) {
                    dShared = split(dShared, dTasks)
                }
                for pullback in record.blocks.reversed() { dShared = dShared.map(pullback) }
                dNormalized = record.entry.map { entry in dShared.map(entry) } ?? dShared
            }
            if let dEmbedded = dNormalized { _ = embedPullback(dEmbedded) }
        })
    }

    // MARK: weights in timm's names

    /// Loads every backbone parameter from `file` (timm's pvt_v2 names); the classifier `head.*`
    /// and other entries are ignored.
    public func load(_ file: Safetensors, path: String) throws {
        try loadNamed(file.tensors, path: path)
    }

    public func exportWeights() -> Safetensors {
        func list(_ values: [Int]) -> String { values.map(String.init).joined(separator: ",") }
        return Safetensors(tensors: Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.stored) }),
                           metadata: ["format": "pt", "architecture": "pvt_v2", "embed_dims": list(shape.widths),
                                      "depths": list(shape.depths), "heads": list(shape.heads),
                                      "sr_ratios": list(shape.spatialReductions), "mlp_ratios": list(shape.mlpRatios),
                                      "image_size": String(imageSize)])
    }

    /// The shape a file of PVT-v2 weights in timm's names implies: widths from the blocks' `q`,
    /// depths from the block indices, reductions from `sr`, MLP ratios from `fc1`. Heads leave no
    /// trace in the weights: from the file's metadata (our exports), else from the named shape of
    /// the same widths and depths (timm's pvt_v2_b*), else nil.
    public static func inferredShape(from file: Safetensors) -> BackboneShape? {
        var widths: [Int] = [], depths: [Int] = [], reductions: [Int] = [], ratios: [Int] = []
        for stage in 0..<4 {
            var count = 0
            while file.tensors["stages.\(stage).blocks.\(count).attn.q.weight"] != nil { count += 1 }
            guard count > 0, let q = file.tensors["stages.\(stage).blocks.0.attn.q.weight"], q.shape.count == 2,
                  let fc1 = file.tensors["stages.\(stage).blocks.0.mlp.fc1.weight"], fc1.shape.count == 2 else { return nil }
            depths.append(count)
            widths.append(q.shape[0])
            ratios.append(fc1.shape[0] / q.shape[0])
            reductions.append(file.tensors["stages.\(stage).blocks.0.attn.sr.weight"].map { $0.shape.last ?? 1 } ?? 1)
        }
        let recorded = file.metadata["heads"]?.split(separator: ",").compactMap { Int($0) }
        let named = BackboneShape.named.first { $0.family == .pvtV2 && $0.widths == widths && $0.depths == depths }
        guard let heads = recorded?.count == 4 ? recorded : named?.heads else { return nil }
        let name = named.map { $0.heads == heads && $0.spatialReductions == reductions && $0.mlpRatios == ratios }
            == true ? named!.name : "custom"
        return .pvtV2(name: name, widths: widths, depths: depths, heads: heads, spatialReductions: reductions,
                      mlpRatios: ratios)
    }
}
