import Foundation
import Testing
import Tensors
@testable import Engine

/// A tiny PVT-v2: widths 4, 8, 8, 16, depths 2-1-1-1; at 32 px the stage sides are 8, 4, 2, 1 and
/// the reductions 4, 2 leave 2 x 2 key/value maps in stages 1 and 2.
let tinyPVTShape = BackboneShape.pvtV2(name: "tiny_pvt", widths: [4, 8, 8, 16], depths: [2, 1, 1, 1], heads: [1, 2, 2, 4],
                                       spatialReductions: [4, 2, 1, 1], mlpRatios: [2, 2, 2, 2])

@Suite struct PVTBackboneTests {
    let tasks: [TaskName] = [.semseg, .normals]

    func model(seed: Int = 1) -> MultiTaskModel {
        MultiTaskModel(shape: tinyPVTShape, imageSize: 32, tasks: tasks, outputs: [.semseg: 3, .normals: 3],
                       decoderChannels: [2, 3, 4, 5], seed: seed)
    }

    @Test func featuresAreTheFourStageOutputs() {
        let backbone = PVTBackbone(shape: tinyPVTShape, imageSize: 64, seed: 1)
        let (features, _) = backbone.forward(randomMatrix(rows: 2 * 64 * 64, columns: 3, seed: 2), batch: 2,
                                             ForwardContext(training: false))
        #expect(features.map(\.height) == [16, 8, 4, 2])
        #expect(features.map(\.channels) == [4, 8, 8, 16])
        #expect(backbone.featureSides == [16, 8, 4, 2] && backbone.featureChannels == [4, 8, 8, 16])
        #expect(backbone.stages.map { $0.blocks[0].attention.reduction?.kernel } == [4, 2, nil, nil])
    }

    /// timm's names, and a file round trip that gives the same features and the same shape back.
    @Test func weightsRoundTripInTimmsNames() throws {
        let source = PVTBackbone(shape: tinyPVTShape, imageSize: 32, seed: 11)
        let names = Set(source.parameters.map(\.name))
        for name in ["patch_embed.proj.weight", "patch_embed.norm.bias", "stages.0.blocks.1.attn.q.weight",
                     "stages.0.blocks.0.attn.kv.bias", "stages.0.blocks.0.attn.sr.weight", "stages.0.blocks.0.attn.norm.weight",
                     "stages.1.downsample.proj.weight", "stages.1.downsample.norm.weight", "stages.3.blocks.0.mlp.dwconv.weight",
                     "stages.3.norm.weight"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(!names.contains("stages.2.blocks.0.attn.sr.weight"))
        #expect(source.namedParameters["stages.1.downsample.proj.weight"]!.shape == [8, 4, 3, 3])
        #expect(source.namedParameters["stages.0.blocks.0.mlp.dwconv.weight"]!.shape == [8, 1, 3, 3])
        let file = source.exportWeights()
        #expect(BackboneShape.inferred(from: file) == tinyPVTShape.renamed("custom"))
        let target = PVTBackbone(shape: tinyPVTShape, imageSize: 32, seed: 99)
        try target.load(file, path: "memory")
        let images = randomMatrix(rows: 32 * 32, columns: 3, seed: 3)
        let a = source.forward(images, batch: 1, ForwardContext(training: false)).features
        let b = target.forward(images, batch: 1, ForwardContext(training: false)).features
        #expect(a.map(\.values.values) == b.map(\.values.values))
    }

    @Test func aSwinFileIsRefusedWithBothShapes() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pvt-swin-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SwinBackbone(shape: tinyShape, imageSize: 32, seed: 1).exportWeights().write(to: url)
        let backbone = PVTBackbone(shape: tinyPVTShape, imageSize: 32, seed: 1)
        let error = #expect(throws: ConfigError.self) { try backbone.loadPretrained(from: url.path) }
        #expect(error?.key == "pretrained")
        #expect(error?.message.contains("a Swin backbone") == true && error?.message.contains("a PVT-v2 backbone") == true)
    }

    /// LoRA on q, kv, proj, fc1 and fc2 of every block; "others" are the patch embeddings, the
    /// LayerNorms and the depthwise convs, never the key/value reduction.
    @Test func loraAdaptsTheFiveLinearsOfEveryBlock() {
        let model = model()
        let decoder = model.parameterCounts.decoder
        let rank = 2
        let adaptation = BackboneAdaptation(options: MethodOptions(method: .lora, rank: rank), model: model, seed: 1)
        #expect(adaptation.modules.count == 5 * 5)
        #expect(Set(adaptation.ranks.keys).isSuperset(of: ["stages.0.blocks.1.attn.q", "stages.0.blocks.1.attn.kv",
                                                            "stages.3.blocks.0.attn.proj", "stages.2.blocks.0.mlp.fc2"]))
        // A block of width C, MLP ratio 2: q C->C, kv C->2C, proj C->C, fc1 C->2C, fc2 2C->C: r (2C + 3C + 2C + 3C + 3C).
        let blockWidths = [4, 4, 8, 8, 16]
        let adapters = blockWidths.map { rank * 13 * $0 }.reduce(0, +)
        let others = model.backbone.otherParameters
        #expect(others.contains { $0.name.hasSuffix("mlp.dwconv.weight") } && others.contains { $0.name == "stages.1.downsample.proj.weight" })
        #expect(!others.contains { $0.name.contains(".attn.sr.") })
        #expect(model.parameterCounts.trainable == decoder + adapters + others.map(\.count).reduce(0, +))
    }

    @Test(arguments: [MethodOptions.defaults(for: .mtlora), MethodOptions.defaults(for: .faar),
                      MethodOptions(method: .lora, adapter: .dora), MethodOptions(method: .adapter), tglora])
    func withZeroUpdatesEveryStreamIsTheFrozenModel(options: MethodOptions) {
        let frozen = model(), adapted = model()
        let adaptation = BackboneAdaptation(options: options, model: adapted, seed: 4)
        let images = randomMatrix(rows: 2 * 32 * 32, columns: 3, seed: 8)
        let context = ForwardContext(training: false)
        let reference = frozen.forward(images, batch: 2, context, spectral: adaptation.spectral).predictions
        let streamed = adaptation.forward(adapted, images, batch: 2, context).predictions
        for task in tasks {
            let worst = zip(reference[task]!.values, streamed[task]!.values).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-4, "\(options.method) \(task): worst difference \(worst)")
        }
    }

    /// MTLoRA's layout: task modules on proj, fc1, fc2 of each stage's last block; each task's
    /// features at a split stage come from its own stream.
    @Test func mtloraSplitsTheLastBlockOfTheChosenStages() {
        let model = model()
        let adaptation = BackboneAdaptation(options: MethodOptions(method: .mtlora, taskSpecificStages: [2, 4]),
                                            model: model, seed: 1)
        let taskLayers = Set(adaptation.modules.map(\.layer).filter { $0.contains(".task.normals") })
        #expect(taskLayers == ["stages.1.blocks.0.attn.proj.task.normals", "stages.1.blocks.0.mlp.fc1.task.normals",
                               "stages.1.blocks.0.mlp.fc2.task.normals", "stages.3.blocks.0.attn.proj.task.normals",
                               "stages.3.blocks.0.mlp.fc1.task.normals", "stages.3.blocks.0.mlp.fc2.task.normals"])
        for (_, module) in adaptation.modules where module.branch.weightA.name.contains(".task.normals") {
            var factors = module.branch.factors
            factors.b = factors.b.indices.map { Float($0 % 7) * 0.01 }
            module.branch.setParameters(factors: factors)
        }
        let (features, _) = model.backbone.forward(randomMatrix(rows: 32 * 32, columns: 3, seed: 9), batch: 1,
                                                   ForwardContext(training: false), layout: adaptation.layout, taskCount: 2)
        func same(_ level: Int) -> Bool { features[0][level].values.values == features[1][level].values.values }
        #expect(same(0) && same(2))
        #expect(!same(1) && !same(3))
    }

    static let tglora = MethodOptions(method: .tglora, rank: 2, groupsPerStage: [1, 1, 2, 2],
                                      taskGroups: [.shared(taskCount: 2), .shared(taskCount: 2), .singletons(taskCount: 2),
                                                   .singletons(taskCount: 2)])

    /// The backbone's pullback in MTLoRA's and TGLoRA's layouts against finite differences of the
    /// loss, with random modules and noisy training masks.
    @Test(arguments: [MethodOptions(method: .mtlora, rank: 2, taskRank: 2, taskSpecificStages: [1, 3]), tglora])
    func gradientsThroughTaskStreamsMatchFiniteDifferences(options: MethodOptions) {
        let model = model()
        let adaptation = BackboneAdaptation(options: options, model: model, seed: 1)
        var generator = SeededRandom(seed: 12)
        for (_, module) in adaptation.modules {
            var factors = module.branch.factors
            factors.b = generator.floats(factors.b.count, in: -0.3...0.3)
            module.branch.setParameters(factors: factors)
        }
        model.backbone.setDropPath(rate: 0.3)
        let context = ForwardContext(training: true, noise: NoiseKey(seed: 2, step: 5))
        let images = generator.floats(2 * 32 * 32 * 3)
        let (features, pullback) = model.backbone.forward(Matrix(rows: 2 * 32 * 32, columns: 3, values: images), batch: 2,
                                                          context, layout: adaptation.layout, taskCount: 2)
        let weights = features.map { $0.map { generator.floats($0.values.values.count) } }
        func loss(_ x: Matrix) -> Double {
            let out = model.backbone.forward(x, batch: 2, context, layout: adaptation.layout, taskCount: 2).features
            return zip(out, weights).map { zip($0, $1).map { weightedSum($0.values.values, $1) }.reduce(0, +) }.reduce(0, +)
        }
        for parameter in model.parameters + adaptation.modules.flatMap(\.module.parameters) { parameter.zeroGradient() }
        pullback(zip(features, weights).map { zip($0, $1).map { Matrix(rows: $0.values.rows, columns: $0.channels, values: $1) } })
        // A task module of stage 1's fc2 (MTLoRA) or of stage 3's fc2 (TGLoRA), a shared one
        // of stage 3's kv (MTLoRA) or stage 2's (TGLoRA), and the stem's conv.
        let layers = options.method == .mtlora
            ? ["stages.0.blocks.1.mlp.fc2.task.normals", "stages.2.blocks.0.attn.kv.shared"]
            : ["stages.2.blocks.0.mlp.fc2.task.normals", "stages.1.blocks.0.attn.kv.shared"]
        let probes = [adaptation.modules.first { $0.layer == layers[0] }!.module.branch.weightB,
                      adaptation.modules.first { $0.layer == layers[1] }!.module.branch.weightA,
                      model.backbone.namedParameters["patch_embed.proj.weight"]!]
        for parameter in probes {
            let gradient = Array(parameter.gradient!)
            for k in stride(from: 0, to: parameter.count, by: max(1, parameter.count / 5)) {
                let original = parameter.values[k]
                let check = centralDifferenceAgrees(analytic: Double(gradient[k]), steps: [1e-2, 3e-3]) { h in
                    parameter.values[k] = original + h
                    defer { parameter.values[k] = original }
                    return loss(Matrix(rows: 2 * 32 * 32, columns: 3, values: images))
                }
                #expect(check.agrees, "dL/d\(parameter.name)[\(k)]: \(check.tried)")
            }
        }
    }
}

@Suite struct PVTConfigTests {
    func error(_ json: String) -> ConfigError? {
        do { _ = try RunConfig.parse(Data(json.utf8), file: "c.json"); return nil } catch let error as ConfigError {
            return error
        } catch { return nil }
    }

    @Test func pvtShapesAreSelectable() throws {
        let config = try RunConfig.parse(Data(#"{"kind": "mtl_full", "backbone": "pvt_v2_mini", "method": "mtlora"}"#.utf8),
                                         file: "c.json")
        #expect(config.backbone.family == .pvtV2 && config.backbone.stageDims == [32, 64, 128, 256])
        #expect(BackboneShape.named("pvt_v2_b2")!.depths == [3, 4, 6, 3])
    }

    @Test func swinOnlyKeysAreRefusedByName() {
        let pvt = #""kind": "mtl_full", "backbone": "pvt_v2_nano""#
        #expect(error("{\(pvt), \"window\": 4}")?.key == "window")
        #expect(error("{\(pvt), \"embed_dim\": 8}")?.key == "embed_dim")
        #expect(error("{\(pvt), \"method\": \"mtlora\", \"adapt_patch_merging\": true}")?.key == "adapt_patch_merging")
        // 32 px: stage sides 8, 4, 2, 1, which b0's reductions 8, 4, 2, 1 divide; no window rule.
        #expect(error(#"{"kind": "mtl_full", "backbone": "pvt_v2_b0", "image_size": 32}"#) == nil)
        #expect(error(#"{"kind": "mtl_full", "backbone": "pvt_v2_b0", "image_size": 96}"#) == nil)
    }
}

extension BackboneShape {
    func renamed(_ name: String) -> BackboneShape { var shape = self; shape.name = name; return shape }
}
