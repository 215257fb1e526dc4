import Foundation
import Tensors
import RunContract
import Testing
@testable import Engine

@Suite struct BottleneckAdapterTests {
    /// A wrapped frozen linear with random (non-zero) adapter weights, so every path carries signal.
    func trainedAdapter(_ generator: inout SeededRandom) -> BottleneckAdapter {
        let adapter = BottleneckAdapter(wrapping: frozenLinear(inputs: 5, outputs: 4, &generator), name: "layer",
                                        bottleneck: 3, seed: 1)
        for parameter in adapter.down.parameters + adapter.up.parameters {
            _ = parameter.values.update(from: generator.floats(parameter.count))
        }
        return adapter
    }

    @Test func gradientsMatchFiniteDifferences() {
        var generator = SeededRandom(seed: 60)
        let adapter = trainedAdapter(&generator)
        let rows = 6
        let x = generator.floats(rows * 5), weights = generator.floats(rows * 4)
        func loss(_ input: [Float] = x) -> Double {
            weightedSum(adapter.forward(Matrix(rows: rows, columns: 5, values: input), ForwardContext(training: true)).0.values,
                        weights)
        }
        let trained = adapter.down.parameters + adapter.up.parameters
        for parameter in trained { parameter.zeroGradient() }
        let (_, pullback) = adapter.forward(Matrix(rows: rows, columns: 5, values: x), ForwardContext(training: true))
        let dx = pullback(Matrix(rows: rows, columns: 4, values: weights))
        expectGradientsMatch(dx.values, numericGradient(x, step: 1e-2) { loss($0) }, "dL/dx")
        for parameter in trained {
            let original = Array(parameter.values)
            let numeric = numericGradient(original, step: 1e-2) { values in
                _ = parameter.values.update(from: values)
                return loss()
            }
            _ = parameter.values.update(from: original)
            expectGradientsMatch(Array(parameter.gradient!), numeric, parameter.name)
        }
        // The frozen base has no gradient buffers and gets none.
        #expect(adapter.base.parameters.allSatisfy { !$0.isTrainable })
    }

    func model() -> MultiTaskModel {
        MultiTaskModel(shape: tinyShape, imageSize: 32, tasks: [.semseg, .normals], outputs: [.semseg: 3, .normals: 3],
                       decoderChannels: [2, 3, 4, 5], seed: 1)
    }

    @Test func adaptedModelEqualsTheFrozenModelAtInitialisation() {
        let images = randomMatrix(rows: 2 * 32 * 32, columns: 3, seed: 61)
        let reference = model()
        let (expected, _) = reference.forward(images, batch: 2, ForwardContext(training: false))
        let adapted = model()
        let adaptation = BackboneAdaptation(options: MethodOptions(method: .adapter, bottleneck: 4), model: adapted, seed: 1)
        let (predictions, _) = adaptation.forward(adapted, images, batch: 2, ForwardContext(training: false))
        #expect(adaptation.bottlenecks.count == 2 * 5)
        for task in reference.tasks { #expect(predictions[task]!.values == expected[task]!.values) }
    }

    /// tinyShape: blocks of dim 8, 8, 16, 32, 64; two adapters per block (after attn.proj and
    /// mlp.fc2), each down d·m + m and up m·d + d for bottleneck m.
    @Test(arguments: [true, false])
    func parameterCountsMatchACountByHand(others: Bool) {
        let model = model()
        let before = model.parameterCounts
        let m = 4
        let adapters = [8, 8, 16, 32, 64].map { d in 2 * (d * m + m + m * d + d) }.reduce(0, +)
        let othersCount = BackboneAdaptationTests().othersCount
        _ = BackboneAdaptation(options: MethodOptions(method: .adapter, othersTrain: others, bottleneck: m), model: model,
                               seed: 1)
        let counts = model.parameterCounts
        #expect(counts.total == before.total + adapters)
        #expect(counts.backbone == before.backbone && counts.decoder == before.decoder)
        #expect(counts.trainable == adapters + before.decoder + (others ? othersCount : 0))
        #expect(model.backbone.parameters.filter { $0.name.contains(".adapter.") }.allSatisfy { $0.isTrainable })
        #expect(model.backbone.parameters.filter { $0.name.hasSuffix("attn.qkv.weight") }.allSatisfy { !$0.isTrainable })
    }

    @Test func adapterRunTrainsAdaptersOthersAndDecoders() throws {
        let directory = temporaryRunDirectory(), full = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: directory); try? FileManager.default.removeItem(at: full) }
        try MethodRunTests().run(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 1, "method": "adapter", "bottleneck": 4}"#,
                                 in: directory)
        try MethodRunTests().run(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 1}"#, in: full)
        let adapter = try MethodRunTests().metrics(in: directory).parameters
        let reference = try MethodRunTests().metrics(in: full).parameters
        #expect(adapter.decoder == reference.decoder && adapter.backbone == reference.backbone)
        #expect(adapter.trainable > adapter.decoder && adapter.trainable < reference.trainable)
        #expect(adapter.total > reference.total)
        let checkpoint = try Checkpoint.read(from: directory.appendingPathComponent(Checkpoint.fileName))
        #expect(checkpoint.model.keys.contains("layers.0.blocks.0.mlp.fc2.adapter.up.weight"))
        // Training moved the zero-initialised up-projections.
        #expect(checkpoint.model["layers.0.blocks.0.attn.proj.adapter.up.weight"]!.values.contains { $0 != 0 })
    }

    @Test func adapterKeysAreChecked() {
        func key(_ json: String) -> String? {
            do { _ = try RunConfig.parse(Data(json.utf8), file: "config.json"); return nil } catch {
                return (error as? ConfigError)?.key
            }
        }
        #expect(key(#"{"kind": "mtl_full", "method": "adapter", "bottleneck": 8, "others_trainable": false}"#) == nil)
        #expect(key(#"{"kind": "single_task", "task": "semseg", "method": "adapter"}"#) == nil)
        #expect(key(#"{"kind": "mtl_full", "method": "adapter", "rank": 8}"#) == "rank")
        #expect(key(#"{"kind": "mtl_full", "method": "lora", "bottleneck": 8}"#) == "bottleneck")
    }
}
