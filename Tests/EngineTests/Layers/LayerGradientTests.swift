import Tensors
import Testing
@testable import Engine

/// Finite-difference checks of the pullbacks the engine trains through (the Matrix layers,
/// forward beside backward), at tiny shapes. Each takes L = Σ y·r with r fixed and random, so
/// dL/dy = r, and compares the pullback's input gradient and every trainable parameter's
/// gradient with central differences of L at a spread of entries. Steps go from 1e-2 down
/// (`centralDifferenceAgrees`), so the kinks of ReLU pass and a wrong gradient does not.
@Suite struct LayerGradientTests {
    let context = ForwardContext(training: true)

    /// Up to `count` indices spread evenly over 0..<total.
    func probes(_ total: Int, count: Int = 8) -> [Int] {
        total <= count ? Array(0..<total) : (0..<count).map { $0 * (total - 1) / (count - 1) }
    }

    func expectPullbackMatches(_ what: String, input: Matrix, parameters: [Parameter], seed: UInt64,
                               sourceLocation: SourceLocation = #_sourceLocation,
                               _ forward: (Matrix) -> (Matrix, Pullback)) {
        var generator = SeededRandom(seed: seed)
        let (y, pullback) = forward(input)
        let r = generator.floats(y.values.count)
        func loss(_ x: Matrix) -> Double { weightedSum(forward(x).0.values, r) }
        for parameter in parameters { parameter.zeroGradient() }
        let dx = pullback(Matrix(rows: y.rows, columns: y.columns, values: r))
        let steps: [Float] = [1e-2, 3e-3, 1e-3]
        for k in probes(input.values.count) {
            let check = centralDifferenceAgrees(analytic: Double(dx.values[k]), steps: steps) { h in
                var shifted = input
                shifted.values[k] += h
                return loss(shifted)
            }
            #expect(check.agrees, "\(what): dL/dx[\(k)]: \(check.tried)", sourceLocation: sourceLocation)
        }
        for parameter in parameters where parameter.isTrainable {
            let gradient = Array(parameter.gradient!)
            for k in probes(parameter.count) {
                let original = parameter.values[k]
                let check = centralDifferenceAgrees(analytic: Double(gradient[k]), steps: steps) { h in
                    parameter.values[k] = original + h
                    defer { parameter.values[k] = original }
                    return loss(input)
                }
                #expect(check.agrees, "\(what): dL/d\(parameter.name)[\(k)]: \(check.tried)", sourceLocation: sourceLocation)
            }
        }
    }

    /// Random values in every parameter (1-D ones around 1 for scales), so no gradient is trivially 0.
    func randomize(_ parameters: [Parameter], _ generator: inout SeededRandom) {
        for parameter in parameters where parameter.role != .statistic {
            _ = parameter.values.update(from: generator.floats(parameter.count, in: -0.5...0.5))
        }
    }

    @Test func linear() {
        var generator = SeededRandom(seed: 101)
        let layer = Linear(name: "fc", inFeatures: 5, outFeatures: 3, role: .backbone, initializer: ParameterInitializer(seed: 1))
        randomize(layer.parameters, &generator)
        let x = Matrix(rows: 4, columns: 5, values: generator.floats(20))
        expectPullbackMatches("Linear", input: x, parameters: layer.parameters, seed: 1) { layer.forward($0, context) }
    }

    @Test func layerNorm() {
        var generator = SeededRandom(seed: 102)
        let norm = LayerNorm(name: "norm", features: 6, role: .backbone)
        randomize(norm.parameters, &generator)
        let x = Matrix(rows: 3, columns: 6, values: generator.floats(18, in: -2...2))
        expectPullbackMatches("LayerNorm", input: x, parameters: norm.parameters, seed: 2) { norm.forward($0, context) }
    }

    @Test(arguments: [false, true])
    func batchNormInTraining(relu: Bool) {
        var generator = SeededRandom(seed: 103)
        let norm = BatchNorm(name: "bn", features: 3, role: .decoder)
        randomize(norm.parameters, &generator)
        let x = Matrix(rows: 7, columns: 3, values: generator.floats(21, in: -2...2))
        expectPullbackMatches("BatchNorm relu \(relu)", input: x, parameters: norm.parameters, seed: 3) {
            norm.forward($0, context, relu: relu)
        }
    }

    @Test func geluAndResize() {
        var generator = SeededRandom(seed: 104)
        let x = Matrix(rows: 2 * 3 * 3, columns: 2, values: generator.floats(36, in: -3...3))
        expectPullbackMatches("gelu", input: x, parameters: [], seed: 4) { gelu($0, context) }
        expectPullbackMatches("resizeBilinear", input: x, parameters: [], seed: 5) {
            resizeBilinear($0, batch: 2, from: (3, 3), to: (5, 4), context)
        }
    }

    /// A shifted Swin block (4 x 4 map, windows of 2, two heads): LayerNorms, window attention
    /// with its relative position table and shift mask, the GELU MLP and both residuals.
    @Test func shiftedSwinBlock() {
        var generator = SeededRandom(seed: 105)
        let block = SwinBlock(name: "block", dim: 4, heads: 2, resolution: 4, window: 2, shifted: true, mlpRatio: 2,
                              initializer: ParameterInitializer(seed: 5))
        randomize(block.parameters, &generator)
        let x = Matrix(rows: 2 * 16, columns: 4, values: generator.floats(2 * 16 * 4))
        expectPullbackMatches("SwinBlock", input: x, parameters: block.parameters, seed: 6) {
            block.forward($0, batch: 2, context)
        }
    }

    @Test func patchMerging() {
        var generator = SeededRandom(seed: 106)
        let merging = PatchMerging(name: "downsample", dim: 2, initializer: ParameterInitializer(seed: 6))
        randomize(merging.parameters, &generator)
        let x = Matrix(rows: 2 * 16, columns: 2, values: generator.floats(2 * 16 * 2))
        expectPullbackMatches("PatchMerging", input: x, parameters: merging.parameters, seed: 7) {
            merging.forward($0, batch: 2, side: 4, context)
        }
    }

    /// Every task's loss as the engine trains with it (`TaskLoss`, channels-last rows, a loss
    /// weight folded into the gradient), with unlabelled pixels among the labelled ones.
    @Test(arguments: TaskName.allCases)
    func taskLoss(task: TaskName) {
        var generator = SeededRandom(seed: 107)
        let pixels = 12
        let channels: Int, labels: [Float]
        switch task {
        case .semseg, .humanParts:
            channels = 5
            labels = (0..<pixels).map { (i: Int) -> Float in i % 4 == 3 ? 255 : Float(i % 5) }
        case .saliency:
            channels = 1
            labels = (0..<pixels).map { (i: Int) -> Float in i % 5 == 4 ? 255 : Float(i % 2) }
        case .normals:
            channels = 3
            // Components in -2...2; pixel 7 has no label (a zero vector).
            labels = (0..<(3 * pixels)).map { (i: Int) -> Float in i / 3 == 7 ? 0 : Float((i * 7) % 5 - 2) }
        case .depth:
            channels = 1
            labels = (0..<pixels).map { (i: Int) -> Float in i % 3 == 0 ? 0 : Float(i) / 4 }
        }
        let x = Matrix(rows: pixels, columns: channels, values: generator.floats(pixels * channels, in: -2...2))
        expectPullbackMatches("TaskLoss \(task)", input: x, parameters: [], seed: 8) { predictions in
            let (loss, gradient) = TaskLoss.loss(for: task, predictions, labels: labels, gradientScale: 2)
            return (Matrix(rows: 1, columns: 1, values: [Float(2 * loss)]), { dy in
                Matrix(rows: gradient.rows, columns: gradient.columns, values: gradient.values.map { $0 * dy.values[0] })
            })
        }
    }

    // MARK: PVT-v2's layers

    @Test func depthwiseConv() {
        var generator = SeededRandom(seed: 107)
        let conv = DepthwiseConv2d(name: "dwconv", channels: 3, role: .backbone, initializer: ParameterInitializer(seed: 7))
        randomize(conv.parameters, &generator)
        let x = Matrix(rows: 2 * 4 * 3, columns: 3, values: generator.floats(2 * 4 * 3 * 3))
        expectPullbackMatches("DepthwiseConv2d", input: x, parameters: conv.parameters, seed: 8) {
            conv.forward($0, batch: 2, height: 4, width: 3, context)
        }
    }

    /// The overlapping patch embedding of PVT-v2's later stages: a 3x3 conv with stride 2 and
    /// padding 1, then LayerNorm.
    @Test func overlapPatchEmbedding() {
        var generator = SeededRandom(seed: 108)
        let embedding = OverlapPatchEmbedding(name: "downsample", inChannels: 2, outChannels: 3, kernel: 3, stride: 2,
                                              initializer: ParameterInitializer(seed: 8))
        randomize(embedding.parameters, &generator)
        let x = Matrix(rows: 2 * 25, columns: 2, values: generator.floats(2 * 25 * 2))
        expectPullbackMatches("OverlapPatchEmbedding", input: x, parameters: embedding.parameters, seed: 9) {
            embedding.forward($0, batch: 2, side: 5, context)
        }
    }

    /// Spatial-reduction attention, with the key/value reduction (a 2x2 conv, stride 2, and its
    /// LayerNorm) and without.
    @Test(arguments: [2, 1])
    func spatialReductionAttention(reduction: Int) {
        var generator = SeededRandom(seed: 109)
        let attention = SpatialReductionAttention(name: "attn", dim: 4, heads: 2, spatialReduction: reduction,
                                                  initializer: ParameterInitializer(seed: 9))
        randomize(attention.parameters, &generator)
        let x = Matrix(rows: 2 * 16, columns: 4, values: generator.floats(2 * 16 * 4))
        expectPullbackMatches("SpatialReductionAttention sr \(reduction)", input: x, parameters: attention.parameters,
                              seed: 10) {
            attention.forward($0, batch: 2, side: 4, context)
        }
    }

    /// A PVT-v2 block (4 x 4 map, reduction 2, two heads): LayerNorms, spatial-reduction
    /// attention, the MLP with its depthwise conv, both residuals.
    @Test func pvtBlock() {
        var generator = SeededRandom(seed: 110)
        let block = PVTBlock(name: "block", dim: 4, heads: 2, side: 4, spatialReduction: 2, mlpRatio: 2,
                             initializer: ParameterInitializer(seed: 10))
        randomize(block.parameters, &generator)
        let x = Matrix(rows: 2 * 16, columns: 4, values: generator.floats(2 * 16 * 4))
        expectPullbackMatches("PVTBlock", input: x, parameters: block.parameters, seed: 11) {
            block.forward($0, batch: 2, context)
        }
    }
}
