import Foundation
import Testing
import Tensors
@testable import Engine

/// A tiny shape that still has a shifted block in stage 1 (8x8 map, window 4, shift 2).
let tinyShape = BackboneShape(name: "tiny", embedDim: 8, depths: [2, 1, 1, 1], heads: [1, 2, 2, 4], window: 4)

func randomMatrix(rows: Int, columns: Int, seed: UInt64) -> Matrix {
    var generator = SeededRandom(seed: seed)
    return Matrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in Float(generator.unit() * 2 - 1) })
}

@Test func featuresHaveMTLoRAsShapes() {
    let backbone = SwinBackbone(shape: tinyShape, imageSize: 64, seed: 1)
    let (features, _) = backbone.forward(randomMatrix(rows: 2 * 64 * 64, columns: 3, seed: 2), batch: 2,
                                         ForwardContext(training: false))
    #expect(features.map(\.height) == [8, 4, 2, 2])
    #expect(features.map(\.channels) == [16, 32, 64, 64])
    #expect(features.map(\.values.rows) == [2 * 64, 2 * 16, 2 * 4, 2 * 4])
}

@Test func timmWindowRulesShrinkAndUnshiftSmallMaps() {
    let backbone = SwinBackbone(shape: tinyShape, imageSize: 32, seed: 1)
    // Stage sides 8, 4, 2, 1 with window 4: only the 8x8 stage is partitioned and shifted.
    #expect(backbone.stages[0].blocks.map(\.shift) == [0, 2])
    #expect(backbone.stages.map { $0.blocks[0].window } == [4, 4, 2, 1])
    #expect(backbone.stages[2].blocks[0].attention.relativePositionBias.shape == [9, 2])
}

@Test func shiftedWindowMaskSeparatesExactlyTheTokensTheRollBroughtTogether() {
    let (side, window, shift) = (8, 4, 2)
    let mask = shiftedWindowMask(height: side, width: side, window: window, shift: shift)
    let n = window * window
    let windowsPerSide = side / window
    for w in 0..<(windowsPerSide * windowsPerSide) {
        for i in 0..<n {
            for j in 0..<n {
                // Unwrapped coordinates in the rolled frame: a token wrapped around iff its source
                // coordinate went past the border. Two tokens may attend iff they wrapped alike.
                func wrapped(_ t: Int) -> (Bool, Bool) {
                    ((w / windowsPerSide) * window + t / window + shift >= side,
                     (w % windowsPerSide) * window + t % window + shift >= side)
                }
                let allowed = wrapped(i) == wrapped(j)
                #expect(mask[(w * n + i) * n + j] == (allowed ? 0 : -100))
            }
        }
    }
}

@Test func shiftedAttentionOnlyMixesTokensOfTheSameShiftedWindowAndRegion() {
    // One shifted block on an 8x8 map: a change at one position must reach exactly the positions
    // that share its window after the roll and its side of every seam.
    let block = SwinBlock(name: "b", dim: 4, heads: 1, resolution: 8, window: 4, shifted: true, mlpRatio: 4,
                          initializer: ParameterInitializer(seed: 3))
    let x = randomMatrix(rows: 64, columns: 4, seed: 4)
    let base = block.forward(x, batch: 1, ForwardContext(training: false)).0
    let probe = 7 * 8 + 7 // row 7, column 7: the bottom-right corner
    var perturbed = x
    perturbed.values[probe * 4] += 1
    let changed = block.forward(perturbed, batch: 1, ForwardContext(training: false)).0
    func rolled(_ position: Int) -> (window: Int, region: Int) {
        // Position in the frame rolled by -2: source row r sits at (r - 2) mod 8.
        let r = (position / 8 + 6) % 8, c = (position % 8 + 6) % 8
        func band(_ v: Int) -> Int { v < 4 ? 0 : (v < 6 ? 1 : 2) }
        return ((r / 4) * 2 + c / 4, band(r) * 3 + band(c))
    }
    for position in 0..<64 {
        let difference = (0..<4).map { abs(changed.values[position * 4 + $0] - base.values[position * 4 + $0]) }.max()!
        let expected = position == probe || rolled(position) == rolled(probe)
        #expect((difference > 0) == expected, "position \(position)")
    }
}

/// Stochastic depth as Swin builds it: 0 at the first block rising to the rate at the last; per
/// image, a branch is dropped or scaled by 1 / (1 - rate), by the noise key alone.
@Test func dropPathRisesOverTheBlocksAndDrawsFromTheNoiseKey() {
    let backbone = SwinBackbone(shape: tinyShape, imageSize: 32, seed: 1)
    backbone.setDropPath(rate: 0.3)
    let rates = backbone.stages.flatMap(\.blocks).map(\.dropPathRate)
    #expect(rates.first == 0 && abs(rates.last! - 0.3) < 1e-6 && zip(rates, rates.dropFirst()).allSatisfy { $0 < $1 })
    let key = NoiseKey(seed: 5, step: 2)
    let drop = DropPath(rate: 0.5, images: 64, key: 7, stream: 0, ForwardContext(training: true, noise: key))!
    #expect(Set(drop.scales) == [0, 2])
    #expect(drop.scales == DropPath(rate: 0.5, images: 64, key: 7, stream: 0, ForwardContext(training: true, noise: key))!.scales)
    #expect(drop.scales != DropPath(rate: 0.5, images: 64, key: 7, stream: 1, ForwardContext(training: true, noise: key))!.scales)
    #expect(DropPath(rate: 0.5, images: 4, key: 7, stream: 0, ForwardContext(training: false, noise: key)) == nil)
    #expect(DropPath(rate: 0.5, images: 4, key: 7, stream: 0, ForwardContext(training: true)) == nil)
}

@Test func sameSeedSameModelSameOutputs() {
    let images = randomMatrix(rows: 2 * 32 * 32, columns: 3, seed: 5)
    func run(_ seed: Int) -> [Float] {
        SwinBackbone(shape: tinyShape, imageSize: 32, seed: seed).forward(images, batch: 2, ForwardContext(training: false))
            .features.flatMap(\.values.values)
    }
    #expect(run(7) == run(7))
    #expect(run(7) != run(8))
}

@Test func backboneWeightsRoundTripThroughSafetensorsWithTimmNames() throws {
    let source = SwinBackbone(shape: tinyShape, imageSize: 32, seed: 11)
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("bb-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try source.exportWeights().write(to: url)
    let file = try Safetensors.read(from: url)
    for name in ["patch_embed.proj.weight", "patch_embed.norm.bias", "layers.0.blocks.1.attn.qkv.weight",
                 "layers.0.blocks.0.attn.relative_position_bias_table", "layers.1.downsample.reduction.weight",
                 "layers.3.blocks.0.mlp.fc2.bias", "norm.weight"] {
        #expect(file.tensors[name] != nil, "\(name)")
    }
    #expect(file.tensors["patch_embed.proj.weight"]?.shape == [8, 3, 4, 4])
    #expect(file.tensors["layers.0.blocks.0.attn.qkv.weight"]?.shape == [24, 8])

    let target = SwinBackbone(shape: tinyShape, imageSize: 32, seed: 99)
    try target.load(file, path: url.path)
    let images = randomMatrix(rows: 32 * 32, columns: 3, seed: 12)
    let a = source.forward(images, batch: 1, ForwardContext(training: false)).features
    let b = target.forward(images, batch: 1, ForwardContext(training: false)).features
    #expect(a.map(\.values.values) == b.map(\.values.values))
}

@Test func olderTimmLayoutIsRenamedAndMissingWeightsAreNamed() throws {
    let source = SwinBackbone(shape: tinyShape, imageSize: 32, seed: 11)
    var file = source.exportWeights()
    // timm < 0.9 kept each stage's patch merging at the end of the previous stage.
    for i in 1...3 {
        for part in ["norm.weight", "norm.bias", "reduction.weight"] {
            file.tensors["layers.\(i - 1).downsample.\(part)"] = file.tensors.removeValue(forKey: "layers.\(i).downsample.\(part)")
        }
    }
    let target = SwinBackbone(shape: tinyShape, imageSize: 32, seed: 5)
    try target.load(file, path: "old.safetensors")
    #expect(Array(target.stages[2].downsample!.norm.weight.values) == Array(source.stages[2].downsample!.norm.weight.values))

    file.tensors.removeValue(forKey: "norm.weight")
    #expect(throws: WeightsError.self) { try target.load(file, path: "old.safetensors") }
}

/// A shifted block with peaked attention (large table and qkv weights), checked by directional
/// derivatives: the relative position table, qkv, and the gradient of the block's input; with
/// drop path on, at the masks a fixed noise key draws.
@Test(arguments: [Float(0), 0.5])
func shiftedBlockGradientsMatchFiniteDifferences(dropPathRate: Float) {
    let block = SwinBlock(name: "b", dim: 8, heads: 2, resolution: 8, window: 4, shifted: true, mlpRatio: 4,
                          initializer: ParameterInitializer(seed: 21))
    block.dropPathRate = dropPathRate
    let context = ForwardContext(training: true, noise: NoiseKey(seed: 3, step: 11))
    let table = block.attention.relativePositionBias
    for i in 0..<table.count { table.values[i] *= 50 }
    let qkv = block.attention.qkv.parameters[0]
    for i in 0..<qkv.count { qkv.values[i] *= 10 }
    var x = randomMatrix(rows: 2 * 64, columns: 8, seed: 22)
    let direction = randomMatrix(rows: 2 * 64, columns: 8, seed: 23)
    func loss(_ input: Matrix) -> Double {
        let y = block.forward(input, batch: 2, context).0
        return zip(y.values, direction.values).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
    let (_, pullback) = block.forward(x, batch: 2, context)
    let dx = pullback(direction)

    for parameter in [table, qkv] {
        let original = Array(parameter.values)
        let step = (original.map { $0 * $0 }.reduce(0, +) / Float(original.count)).squareRoot() * 1e-3
        let signs = parameter.gradient!.map { $0 >= 0 ? Float(1) : -1 }
        for i in 0..<parameter.count { parameter.values[i] = original[i] + step * signs[i] }
        let up = loss(x)
        for i in 0..<parameter.count { parameter.values[i] = original[i] - step * signs[i] }
        let down = loss(x)
        _ = parameter.values.update(from: original)
        let numeric = (up - down) / Double(2 * step)
        let analytic = zip(parameter.gradient!, signs).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(numeric - analytic) <= 0.02 * abs(analytic), "\(parameter.name): \(numeric) vs \(analytic)")
    }
    let original = x
    let signs = dx.values.map { $0 >= 0 ? Float(1) : -1 }
    for i in x.values.indices { x.values[i] = original.values[i] + 1e-3 * signs[i] }
    let up = loss(x)
    for i in x.values.indices { x.values[i] = original.values[i] - 1e-3 * signs[i] }
    let down = loss(x)
    let numeric = (up - down) / 2e-3
    let analytic = zip(dx.values, signs).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    #expect(abs(numeric - analytic) <= 0.02 * abs(analytic), "input: \(numeric) vs \(analytic)")
}
