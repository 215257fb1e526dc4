import Foundation
import Tensors
import Testing
@testable import Engine

private func tinyModel(seed: Int = 1) -> MultiTaskModel {
    MultiTaskModel(shape: tinyShape, imageSize: 32, tasks: [.semseg, .normals], outputs: [.semseg: 3, .normals: 3],
                   decoderChannels: [2, 3, 4, 5], seed: seed)
}

@Test func predictionsCoverTheInputAtFullResolution() {
    let model = tinyModel()
    let (predictions, _) = model.forward(randomMatrix(rows: 2 * 32 * 32, columns: 3, seed: 1), batch: 2,
                                         ForwardContext(training: true))
    #expect(predictions[.semseg]?.rows == 2 * 32 * 32 && predictions[.semseg]?.columns == 3)
    #expect(predictions[.normals]?.columns == 3)
}

@Test func parameterCountsMatchACountByHand() {
    let model = tinyModel()
    let c = 8
    func block(_ d: Int, heads: Int, window: Int) -> Int {
        let table = (2 * window - 1) * (2 * window - 1) * heads
        return 2 * d + (3 * d * d + 3 * d) + table + (d * d + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d)
    }
    func merging(_ d: Int) -> Int { 8 * d + 4 * d * 2 * d }
    // Stage sides at 32x32: 8, 4, 2, 1 -> windows 4, 4, 2, 1.
    let backbone = (48 * c + c + 2 * c)
        + 2 * block(c, heads: 1, window: 4)
        + merging(c) + block(2 * c, heads: 2, window: 4)
        + merging(2 * c) + block(4 * c, heads: 2, window: 2)
        + merging(4 * c) + block(8 * c, heads: 4, window: 1)
        + 2 * 8 * c
    // HRNet heads: projections, fuse widening s = 14 to w = 56, BatchNorm, classifier.
    let features = [16, 32, 64, 64], channels = [2, 3, 4, 5], s = 14, w = 56
    func head(_ outputs: Int) -> Int {
        zip(features, channels).map(*).reduce(0, +) + (s * w + w) + 2 * w + (w * outputs + outputs)
    }
    let decoder = head(3) + head(3)
    let counts = model.parameterCounts
    #expect(counts.backbone == backbone)
    #expect(counts.decoder == decoder)
    #expect(counts.total == backbone + decoder)
    #expect(counts.trainable == counts.total)
    model.freezeBackbone()
    #expect(model.parameterCounts.trainable == decoder)
}

@Test func macsAreCountedFromTheLayersAndScaleWithTheImage() {
    let small = tinyModel().forwardMACs()
    let large = MultiTaskModel(shape: tinyShape, imageSize: 64, tasks: [.semseg, .normals],
                               outputs: [.semseg: 3, .normals: 3], decoderChannels: [2, 3, 4, 5], seed: 1).forwardMACs()
    // Patch embedding alone: (32/4)² patches x 48 x 8.
    #expect(small > 64 * 48 * 8)
    #expect(large > 3 * small)
}

/// Central differences against the pullbacks, through the whole model (attention with shift and
/// mask, patch merging, LayerNorm, GELU, HRNet head with BatchNorm in training mode, resizing).
@Test func gradientsMatchFiniteDifferences() {
    let model = tinyModel(seed: 3)
    let images = randomMatrix(rows: 2 * 32 * 32, columns: 3, seed: 4)
    let directions: [TaskName: Matrix] = [.semseg: randomMatrix(rows: 2 * 32 * 32, columns: 3, seed: 5),
                                          .normals: randomMatrix(rows: 2 * 32 * 32, columns: 3, seed: 6)]
    func loss() -> Double {
        let (predictions, _) = model.forward(images, batch: 2, ForwardContext(training: true))
        return directions.keys.map { task in
            zip(predictions[task]!.values, directions[task]!.values).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }.reduce(0, +)
    }
    for parameter in model.parameters { parameter.zeroGradient() }
    let (_, pullback) = model.forward(images, batch: 2, ForwardContext(training: true))
    pullback(directions)

    let checked = ["patch_embed.proj.weight", "layers.0.blocks.1.attn.qkv.weight",
                   "layers.0.blocks.1.attn.relative_position_bias_table", "layers.0.blocks.1.attn.proj.bias",
                   "layers.0.blocks.0.norm1.weight", "layers.0.blocks.1.mlp.fc1.weight",
                   "layers.1.downsample.reduction.weight", "layers.1.downsample.norm.bias",
                   "layers.2.blocks.0.attn.qkv.bias", "layers.3.blocks.0.mlp.fc2.weight",
                   "decoders.semseg.project.1.weight", "decoders.normals.fuse.weight",
                   "decoders.normals.norm.weight", "decoders.semseg.classify.bias"]
    let byName = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0) })
    // Directional derivatives: every entry of a parameter moves at once, so the signal stands well
    // above Float rounding.
    var generator = SeededRandom(seed: 8)
    for name in checked {
        let parameter = byName[name]!
        let original = Array(parameter.values)
        // Steps of 1% of the parameter's own scale and below keep the model in its linear regime.
        let scale = max((original.map { $0 * $0 }.reduce(0, +) / Float(original.count)).squareRoot(), 0.02)
        // Along the gradient's signs (random where it is zero), the derivative is as large as it gets.
        let direction = (0..<parameter.count).map { i -> Float in
            let g = parameter.gradient![i]
            return g > 0 ? scale : (g < 0 || generator.next() % 2 == 0 ? -scale : scale)
        }
        // The bias table moves the attention logits additively and its derivative here is about
        // 1e-4: at 0.3% steps its central difference is Float rounding noise (measured -4.9e-5
        // against 1.7e-4), while steps of 1% to 30% agree with the pullback within 4%.
        let steps: [Float] = name.hasSuffix("relative_position_bias_table") ? [1e-1, 3e-2, 1e-2] : [1e-2, 3e-3, 1e-3, 3e-4]
        let analytic = zip(parameter.gradient!, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let (agrees, tried) = centralDifferenceAgrees(analytic: analytic, steps: steps) { step in
            for i in 0..<parameter.count { parameter.values[i] = original[i] + step * direction[i] }
            return loss()
        }
        _ = parameter.values.update(from: original)
        #expect(agrees, "\(name): \(tried)")
    }
}
