import Foundation
import Tensors
import Testing
@testable import Engine

@Suite struct BackboneAdaptationTests {
    func model() -> MultiTaskModel {
        MultiTaskModel(shape: tinyShape, imageSize: 32, tasks: [.semseg, .normals], outputs: [.semseg: 3, .normals: 3],
                       decoderChannels: [2, 3, 4, 5], seed: 1)
    }

    /// tinyShape: C = 8, depths 2-1-1-1, so stage dims 8, 16, 32, 64. A block of dim C with
    /// modules on qkv (C -> 3C), proj (C -> C), fc1 (C -> 4C) and fc2 (4C -> C) holds
    /// r (4C + 2C + 5C + 5C) = 16 r C values; DoRA adds one magnitude per output, 9C.
    let blockDims = [8, 8, 16, 32, 64]
    func loraCount(rank: Int) -> Int { blockDims.map { 16 * rank * $0 }.reduce(0, +) }
    var doraMagnitudes: Int { blockDims.map { 9 * $0 }.reduce(0, +) }
    /// MTLoRA's "others" of tinyShape at 32 x 32 (stage sides 8, 4, 2, 1, windows 4, 4, 2, 1):
    /// patch embedding 8*3*4*4 + 8 + 16 = 408; block LayerNorms 4C each = 512; relative position
    /// tables 49*1*2 + 49*2 + 9*2 + 1*4 = 218; patch merging (LayerNorm 8C + reduction 4C x 2C)
    /// 576 + 2176 + 8448 = 11200; final LayerNorm 128.
    let othersCount = 408 + 512 + 218 + 11200 + 128

    @Test(arguments: [(LowRankKind.lora, true), (.lora, false), (.dora, true)])
    func parameterCountsMatchACountByHand(kind: LowRankKind, others: Bool) {
        let model = model()
        let decoder = model.parameterCounts.decoder
        let total = model.parameterCounts.total
        let adaptation = BackboneAdaptation(
            options: MethodOptions(method: .lora, adapter: kind, rank: 2, othersTrain: others), model: model, seed: 1)
        let adapters = loraCount(rank: 2) + (kind == .dora ? doraMagnitudes : 0)
        #expect(adaptation.modules.count == 5 * 4)
        let counts = model.parameterCounts
        #expect(counts.trainable == adapters + decoder + (others ? othersCount : 0))
        #expect(counts.total == total + adapters)
        #expect(counts.decoder == decoder)
    }

    @Test func attentionOnlyLocationsAdaptQKVAndProj() {
        let model = model()
        let adaptation = BackboneAdaptation(options: MethodOptions(method: .lora, rank: 3, locations: .attn, othersTrain: false),
                                            model: model, seed: 1)
        #expect(adaptation.modules.map(\.layer).filter { $0.hasSuffix("fc1") || $0.hasSuffix("fc2") }.isEmpty)
        #expect(model.parameterCounts.trainable - model.parameterCounts.decoder == blockDims.map { 3 * 6 * $0 }.reduce(0, +))
    }

    @Test func bitFitTrainsTheBackboneBiasesOnly() {
        let model = model()
        _ = BackboneAdaptation(options: MethodOptions(method: .bitfit, othersTrain: false), model: model, seed: 1)
        let trainable = model.backbone.parameters.filter(\.isTrainable).map(\.name)
        #expect(!trainable.isEmpty && trainable == model.backbone.parameters.map(\.name).filter { $0.hasSuffix(".bias") })
    }

    /// MTLoRA's code picks its "others" by timm name; the layers declare them instead, and the
    /// two agree (Swin and PVT-v2, whose analogues leave the key/value reduction `sr` out).
    @Test(arguments: [tinyShape, tinyPVTShape])
    func declaredOthersAreTheOnesMTLoRANames(shape: BackboneShape) {
        let model = MultiTaskModel(shape: shape, imageSize: 32, tasks: [.semseg, .normals],
                                   outputs: [.semseg: 3, .normals: 3], decoderChannels: [2, 3, 4, 5], seed: 1)
        _ = BackboneAdaptation(options: MethodOptions(method: .lora, rank: 2, adaptPatchMerging: shape.family == .swin),
                               model: model, seed: 1)
        func named(_ name: String) -> Bool {
            name.hasPrefix("patch_embed.") || name.hasPrefix("norm.") || name.contains(".norm")
                || name.hasSuffix("relative_position_bias_table") || name.contains(".downsample.reduction.")
                || name.contains(".downsample.proj.") || name.contains(".mlp.dwconv.")
        }
        let backbone = model.backbone.parameters.filter { $0.role == .backbone }
        #expect(model.backbone.otherParameters.filter { $0.role == .backbone }.map(\.name) == backbone.map(\.name).filter(named))
        #expect(backbone.filter(\.isTrainable).map(\.name) == backbone.map(\.name).filter(named))
    }

    @Test func decodersOnlyFreezesTheBackbone() {
        let model = model()
        _ = BackboneAdaptation(options: MethodOptions(method: .decoders), model: model, seed: 1)
        #expect(model.backbone.parameters.filter(\.isTrainable).isEmpty)
        #expect(model.parameterCounts.trainable == model.parameterCounts.decoder)
    }

    @Test func rankShrinkingShrinksParametersAndMACsOfARealModel() {
        let model = model()
        let options = MethodOptions(method: .lora, adapter: .dora, rank: 6, othersTrain: false,
                                    rankShrinking: .init(rhoShared: 0.6, rhoTask: 0.6))
        let adaptation = BackboneAdaptation(options: options, model: model, seed: 1)
        var generator = SeededRandom(seed: 2)
        // Train B away from 0 for a few steps so the components differ in importance.
        let images = Matrix(rows: 2 * 32 * 32, columns: 3, values: generator.floats(2 * 32 * 32 * 3))
        let macsBefore = model.forwardMACs()
        for _ in 0..<3 {
            for parameter in model.parameters { parameter.zeroGradient() }
            let (predictions, pullback) = model.forward(images, batch: 2, ForwardContext(training: true))
            pullback(predictions.mapValues { Matrix(rows: $0.rows, columns: $0.columns, values: generator.floats($0.values.count)) })
            adaptation.recordImportance()
            for (_, module) in adaptation.modules {
                for parameter in module.parameters { _ = parameter.values.update(from: zip(parameter.values, parameter.gradient!).map { $0 - 0.01 * $1 }) }
            }
        }
        let ranks = adaptation.epochEnded()
        #expect(ranks.count == adaptation.modules.count)
        #expect(ranks.values.allSatisfy { (1...6).contains($0) })
        #expect(ranks.values.contains { $0 < 6 })
        let erased = adaptation.modules.map { (6 - $0.module.rank) * ($0.module.inputs + $0.module.outputs) }.reduce(0, +)
        #expect(adaptation.erasedParameterCount == erased && erased > 0)
        #expect(model.forwardMACs() < macsBefore)
        // The checkpoint state round-trips into a fresh adaptation.
        let fresh = BackboneAdaptation(options: options, model: self.model(), seed: 1)
        try? fresh.restore(adaptation.state())
        #expect(fresh.ranks == adaptation.ranks)
    }
}
