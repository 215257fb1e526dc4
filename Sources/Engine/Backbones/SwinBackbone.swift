import Foundation

/// A feature map in channels-last rows: [batch * height * width, channels].
public struct FeatureMap {
    public var values: Matrix
    public var height: Int
    public var width: Int
    public var channels: Int { values.columns }
}

/// 4x4 patches -> Linear to C (timm's conv `patch_embed.proj`, weight [C, 3, 4, 4]) -> LayerNorm.
public final class PatchEmbedding {
    public let proj: Linear
    public let norm: LayerNorm
    let patch: Int

    init(dim: Int, patch: Int, initializer: ParameterInitializer) {
        self.patch = patch
        proj = Linear(name: "patch_embed.proj", inFeatures: 3 * patch * patch, outFeatures: dim, role: .backbone,
                      initializer: initializer, weightShape: [dim, 3, patch, patch])
        norm = LayerNorm(name: "patch_embed.norm", features: dim, role: .backbone)
    }

    var parameters: [Parameter] { proj.parameters + norm.parameters }

    /// `images`: channels-last pixels [batch * size * size, 3].
    func forward(_ images: Matrix, batch: Int, size: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        let side = size / patch, p = patch
        var patches = Matrix(zeros: batch * side * side, 3 * p * p)
        images.values.withUnsafeBufferPointer { pixels in
            patches.values.withUnsafeMutableBufferPointer { patches in
                for b in 0..<batch {
                    for y in 0..<size {
                        for x in 0..<size {
                            let row = (b * side + y / p) * side + x / p
                            let within = (y % p) * p + x % p
                            let pixel = pixels.baseAddress! + ((b * size + y) * size + x) * 3
                            for channel in 0..<3 { patches[row * 3 * p * p + channel * p * p + within] = pixel[channel] }
                        }
                    }
                }
            }
        }
        let (embedded, projPullback) = proj.forward(patches, context)
        let (normalized, normPullback) = norm.forward(embedded, context)
        // The image needs no gradient; the pullback only accumulates the parameters'.
        return (normalized, { dy in _ = projPullback(normPullback(dy)); return dy })
    }
}

/// 2x2 neighbours concatenated (timm's order x(0,0), x(1,0), x(0,1), x(1,1)) -> LayerNorm(4C)
/// -> Linear 4C -> 2C without bias.
public final class PatchMerging {
    public let norm: LayerNorm
    public var reduction: any LinearLayer

    init(name: String, dim: Int, initializer: ParameterInitializer) {
        norm = LayerNorm(name: name + ".norm", features: 4 * dim, role: .backbone)
        reduction = Linear(name: name + ".reduction", inFeatures: 4 * dim, outFeatures: 2 * dim, bias: false,
                           role: .backbone, initializer: initializer)
    }

    var parameters: [Parameter] { norm.parameters + reduction.parameters }

    func forward(_ x: Matrix, batch: Int, side: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        let c = x.columns, half = side / 2
        // Source row of each of the four neighbours, in output-row order.
        var sources = [Int32](repeating: 0, count: batch * half * half * 4)
        for b in 0..<batch {
            for i in 0..<half {
                for j in 0..<half {
                    let out = (b * half + i) * half + j
                    for (q, (di, dj)) in [(0, 0), (1, 0), (0, 1), (1, 1)].enumerated() {
                        sources[out * 4 + q] = Int32((b * side + 2 * i + di) * side + 2 * j + dj)
                    }
                }
            }
        }
        // Viewing [rows, 4C] as [4 * rows, C], merging is a row permutation.
        var gathered = permuteRows(x, order: sources, batch: 1, inverse: false)
        gathered.rows /= 4; gathered.columns *= 4
        let (normalized, normPullback) = norm.forward(gathered, context)
        let (reduced, reductionPullback) = reduction.forward(normalized, context)
        return (reduced, { dy in
            var dGathered = normPullback(reductionPullback(dy))
            dGathered.rows *= 4; dGathered.columns = c
            return permuteRows(dGathered, order: sources, batch: 1, inverse: true)
        })
    }
}

/// One stage: an optional patch merging at its start (timm >= 0.9 layout), then its blocks.
public final class SwinStage {
    public let downsample: PatchMerging?
    public let blocks: [SwinBlock]
    public let inputSide: Int
    public let side: Int

    init(index: Int, shape: BackboneShape, inputSide: Int, initializer: ParameterInitializer) {
        let dim = shape.stageDims[index]
        self.inputSide = inputSide
        let side = index == 0 ? inputSide : inputSide / 2
        self.side = side
        downsample = index == 0 ? nil
            : PatchMerging(name: "layers.\(index).downsample", dim: dim / 2, initializer: initializer)
        blocks = (0..<shape.depths[index]).map { j in
            SwinBlock(name: "layers.\(index).blocks.\(j)", dim: dim, heads: shape.heads[index], resolution: side,
                      window: shape.window, shifted: j % 2 == 1, mlpRatio: shape.mlpRatio, initializer: initializer)
        }
    }

    var parameters: [Parameter] { (downsample?.parameters ?? []) + blocks.flatMap(\.parameters) }
}

/// The Swin backbone. Its features for decoders are MTLoRA's: each stage's output after the next
/// stage's patch merging (2C at 1/8, 4C at 1/16, 8C at 1/32), and the last stage's output (8C at 1/32).
public final class SwinBackbone: Backbone {
    public let shape: BackboneShape
    public let imageSize: Int
    public let patchEmbedding: PatchEmbedding
    public let stages: [SwinStage]
    /// The final LayerNorm (timm's `norm`), used by the classification head of pretraining.
    public let norm: LayerNorm

    public init(shape: BackboneShape, imageSize: Int, seed: Int) {
        self.shape = shape; self.imageSize = imageSize
        let initializer = ParameterInitializer(seed: UInt64(seed))
        patchEmbedding = PatchEmbedding(dim: shape.embedDim, patch: shape.patchSize, initializer: initializer)
        var side = imageSize / shape.patchSize
        var stages: [SwinStage] = []
        for index in shape.depths.indices {
            let stage = SwinStage(index: index, shape: shape, inputSide: side, initializer: initializer)
            stages.append(stage)
            side = stage.side
        }
        self.stages = stages
        norm = LayerNorm(name: "norm", features: shape.stageDims.last!, role: .backbone)
    }

    public var parameters: [Parameter] { patchEmbedding.parameters + stages.flatMap(\.parameters) + norm.parameters }
    /// The patch embedding, the patch mergings (LayerNorm and reduction, an adapted reduction's
    /// frozen base included), the blocks' LayerNorms and relative position bias tables, the final
    /// LayerNorm.
    public var otherParameters: [Parameter] {
        patchEmbedding.parameters + stages.flatMap { stage in
            (stage.downsample?.parameters ?? []) + stage.blocks.flatMap(\.otherParameters)
        } + norm.parameters
    }

    /// Channels of the four decoder features.
    public var featureChannels: [Int] { let d = shape.stageDims; return [d[1], d[2], d[3], d[3]] }
    public var featureSides: [Int] { stages.dropFirst().map(\.side) + [stages.last!.side] }
    public var stageBlocks: [[any AdaptableBlock]] { stages.map(\.blocks) }
    public var patchMergings: [PatchMerging?] { stages.map(\.downsample) }
    public var headNorm: LayerNorm? { norm }
    public var classifierName: String { "head.fc" }

    /// `images`: channels-last pixels [batch * imageSize², 3]. The pullback takes the gradient of
    /// each feature (nil where a feature got none) and accumulates the backbone's parameter gradients.
    public func forward(_ images: Matrix, batch: Int, _ context: ForwardContext)
        -> (features: [FeatureMap], pullback: ([Matrix?]) -> Void) {
        var x: Matrix
        var pullbacks: [Pullback] = []
        // Where each feature is taken: after this many pullbacks were recorded.
        var featureMarks: [Int] = []
        var features: [FeatureMap] = []
        let (embedded, embedPullback) = patchEmbedding.forward(images, batch: batch, size: imageSize, context)
        x = embedded
        pullbacks.append(embedPullback)
        for (index, stage) in stages.enumerated() {
            if let downsample = stage.downsample {
                let (merged, mergePullback) = downsample.forward(x, batch: batch, side: stage.inputSide, context)
                x = merged
                pullbacks.append(mergePullback)
                features.append(FeatureMap(values: x, height: stage.side, width: stage.side))
                featureMarks.append(pullbacks.count)
            }
            for block in stage.blocks {
                let (out, blockPullback) = block.forward(x, batch: batch, context)
                x = out
                pullbacks.append(blockPullback)
            }
            if index == stages.count - 1 {
                features.append(FeatureMap(values: x, height: stage.side, width: stage.side))
                featureMarks.append(pullbacks.count)
            }
        }
        return (features, { gradients in
            var gradient: Matrix?
            for step in stride(from: pullbacks.count, to: 0, by: -1) {
                for (feature, mark) in featureMarks.enumerated() where mark == step {
                    if let g = gradients[feature] { gradient = gradient.map { $0 + g } ?? g }
                }
                guard let g = gradient else { continue }
                gradient = pullbacks[step - 1](g)
            }
        })
    }

    // MARK: weights in timm's names

    /// Loads every backbone parameter from `file` (timm >= 0.9 names; files in the older layout,
    /// with patch merging at the end of stage i as `layers.i.downsample`, are renamed as timm does).
    /// Other entries (the classifier `head.*`, buffers) are ignored.
    public func load(_ file: Safetensors, path: String) throws {
        var tensors = file.tensors
        if tensors["layers.0.downsample.reduction.weight"] != nil {
            var renamed: [String: StoredTensor] = [:]
            for (name, tensor) in tensors {
                if let match = name.firstMatch(of: /^layers\.(\d+)\.downsample\.(.*)$/), let i = Int(match.1) {
                    renamed["layers.\(i + 1).downsample.\(match.2)"] = tensor
                } else {
                    renamed[name] = tensor
                }
            }
            tensors = renamed
        }
        try loadNamed(tensors, path: path)
    }

    /// The backbone's weights in timm's names and shapes.
    public func exportWeights() -> Safetensors {
        Safetensors(tensors: Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.stored) }),
                    metadata: ["format": "pt", "architecture": "swin", "embed_dim": String(shape.embedDim),
                               "depths": shape.depths.map(String.init).joined(separator: ","),
                               "heads": shape.heads.map(String.init).joined(separator: ","),
                               "window": String(shape.window), "image_size": String(imageSize)])
    }
}

extension SwinBackbone {
    /// The shape a file of Swin weights in timm's names implies: C from the patch embedding,
    /// depths from the block indices, heads and window from the relative position tables.
    public static func inferredShape(from file: Safetensors) -> BackboneShape? {
        guard let embed = file.tensors["patch_embed.proj.weight"], embed.shape.count == 4 else { return nil }
        var depths: [Int] = []
        for stage in 0..<4 {
            var count = 0
            while file.tensors["layers.\(stage).blocks.\(count).attn.qkv.weight"] != nil { count += 1 }
            guard count > 0 else { return nil }
            depths.append(count)
        }
        var heads: [Int] = [], window = 0
        for stage in 0..<4 {
            guard let table = file.tensors["layers.\(stage).blocks.0.attn.relative_position_bias_table"],
                  table.shape.count == 2 else { return nil }
            heads.append(table.shape[1])
            // (2w - 1)² rows; the first stage is never shrunk, so it gives the configured window.
            if stage == 0 { window = (Int(Double(table.shape[0]).squareRoot().rounded()) + 1) / 2 }
        }
        return BackboneShape(name: "custom", embedDim: embed.shape[0], depths: depths, heads: heads, window: window)
    }
}
