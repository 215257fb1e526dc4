import Foundation
import Tensors
import Testing
@testable import Engine

/// MTLoRA's task-specific block and layout, and TGLoRA's group streams, inside the backbone.
@Suite struct TaskStreamBlockTests {
    let dim = 8, side = 4, taskCount = 2

    /// A shifted block (4 x 4 map, windows of 2) whose proj, fc1 and fc2 carry a shared module
    /// and one module per task, every B random so each stream differs; qkv carries a shared one.
    func taskBlock(_ generator: inout SeededRandom, dropout: Float = 0) -> SwinBlock {
        let block = SwinBlock(name: "block", dim: dim, heads: 2, resolution: side, window: 2, shifted: true, mlpRatio: 4,
                              initializer: ParameterInitializer(seed: 3))
        for parameter in block.parameters { parameter.setTrainable(false) }
        func module(_ base: Linear, _ name: String, rank: Int) -> any LowRankModule {
            let module = LowRankKind.lora.module(name: name, inputs: base.inFeatures, outputs: base.outFeatures,
                                                 rank: rank, scale: 2, weight: nil, dropout: dropout, seed: 9)
            var factors = module.branch.factors
            factors.b = generator.floats(base.outFeatures * rank, in: -0.5...0.5)
            module.branch.setParameters(factors: factors)
            return module
        }
        let qkv = block.attention.qkv as! Linear
        block.attention.qkv = AdaptedLinear(base: qkv, module: module(qkv, "qkv.shared", rank: 2))
        for site in [MethodOptions.LinearSite.proj, .fc1, .fc2] {
            let base = block[site][0] as! Linear
            block[site] = [TaskStreamLinear(base: base, shared: module(base, "\(site).shared", rank: 3),
                                            tasks: (0..<taskCount).map { module(base, "\(site).task\($0)", rank: 2) })]
        }
        return block
    }

    func streams(_ block: SwinBlock) -> [TaskStreamLinear] {
        [block[.proj], block[.fc1], block[.fc2]].map { $0[0] as! TaskStreamLinear }
    }

    @Test func taskStreamsFollowTheMatrixSemantics() {
        var generator = SeededRandom(seed: 61)
        let block = taskBlock(&generator)
        let x = Matrix(rows: side * side, columns: dim, values: generator.floats(side * side * dim))
        let context = ForwardContext(training: false)
        let out = block.forwardTaskStreams(x, batch: 1, taskCount: taskCount, context)

        // The reference, layer by layer: a task module adds s B_t A_t x_t to the frozen layer's
        // output on the SHARED input; the shared module is absent from the task streams.
        let (proj, fc1, fc2) = (streams(block)[0], streams(block)[1], streams(block)[2])
        func frozen(_ layer: TaskStreamLinear, _ input: Matrix) -> Matrix { layer.base.forward(input, context).0 }
        func update(_ module: any LowRankModule, _ layer: TaskStreamLinear, _ input: Matrix) -> Matrix {
            var difference = AdaptedLinear(base: layer.base, module: module).forward(input, context).0
            let base = frozen(layer, input)
            for k in difference.values.indices { difference.values[k] -= base.values[k] }
            return difference
        }
        let windowed = permuteRows(block.norm1.forward(x, context).0, order: block.windowOrder, batch: 1, inverse: false)
        let attended = permuteRows(block.attention.attend(windowed, windowsPerImage: 4, mask: block.mask, context).0,
                                   order: block.windowOrder, batch: 1, inverse: true)
        let afterShared = x + frozen(proj, attended) + update(proj.shared!, proj, attended)
        let hiddenShared = frozen(fc1, block.norm2.forward(afterShared, context).0)
            + update(fc1.shared!, fc1, block.norm2.forward(afterShared, context).0)
        let activatedShared = gelu(hiddenShared, context).0
        let shared = afterShared + frozen(fc2, activatedShared) + update(fc2.shared!, fc2, activatedShared)
        expectClose(out.shared.values, shared.values)
        for t in 0..<taskCount {
            let after = x + frozen(proj, attended) + update(proj.tasks[t], proj, attended)
            let hidden = frozen(fc1, block.norm2.forward(afterShared, context).0)
                + update(fc1.tasks[t], fc1, block.norm2.forward(after, context).0)
            let task = after + frozen(fc2, activatedShared) + update(fc2.tasks[t], fc2, gelu(hidden, context).0)
            expectClose(out.tasks[t].values, task.values)
        }
        // The streams really differ: every module has a random B.
        #expect(zip(out.tasks[0].values, out.tasks[1].values).contains { abs($0 - $1) > 1e-3 })
    }

    /// The block does not know which adapter wraps its layers: with plain linears on proj, fc1
    /// and fc2 every task stream is the shared one, and the gradients of all streams add up.
    @Test func aBlockOfPlainLayersGivesEveryTaskTheSharedStream() {
        var generator = SeededRandom(seed: 63)
        let block = SwinBlock(name: "block", dim: dim, heads: 2, resolution: side, window: 2, shifted: true, mlpRatio: 4,
                              initializer: ParameterInitializer(seed: 3))
        let context = ForwardContext(training: false)
        let x = Matrix(rows: side * side, columns: dim, values: generator.floats(side * side * dim))
        let out = block.forwardTaskStreams(x, batch: 1, taskCount: taskCount, context)
        let (plain, plainPullback) = block.forward(x, batch: 1, context)
        expectClose(out.shared.values, plain.values)
        for task in out.tasks { expectClose(task.values, plain.values) }
        let gradients = (0...taskCount).map { _ in Matrix(rows: x.rows, columns: dim, values: generator.floats(x.rows * dim)) }
        expectClose(out.pullback(gradients[0], Array(gradients.dropFirst())).values,
                    plainPullback(gradients.dropFirst().reduce(gradients[0], +)).values)
    }

    func expectClose(_ a: [Float], _ b: [Float], sourceLocation: SourceLocation = #_sourceLocation) {
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        #expect(a.count == b.count && worst < 1e-4, "worst difference \(worst)", sourceLocation: sourceLocation)
    }

    /// Noisy: LoRA dropout in every module and drop path on every stream's branches, with the
    /// masks a fixed noise key gives (the same at every call, so finite differences see them).
    @Test(arguments: [false, true])
    func gradientsThroughATaskBlockMatchFiniteDifferences(noisy: Bool) {
        var generator = SeededRandom(seed: 62)
        let block = taskBlock(&generator, dropout: noisy ? 0.3 : 0)
        block.dropPathRate = noisy ? 0.4 : 0
        let context = noisy ? ForwardContext(training: true, noise: NoiseKey(seed: 4, step: 7)) : ForwardContext(training: false)
        let images = 2, rows = images * side * side
        let x = generator.floats(rows * dim)
        let weights = (0...taskCount).map { _ in generator.floats(rows * dim) }
        func loss(_ values: [Float]) -> Double {
            let out = block.forwardTaskStreams(Matrix(rows: rows, columns: dim, values: values), batch: images,
                                               taskCount: taskCount, context)
            return ([out.shared] + out.tasks).enumerated().map { weightedSum($1.values, weights[$0]) }.reduce(0, +)
        }
        if noisy {
            // The masks change the streams, and only with the step.
            let plain = block.forwardTaskStreams(Matrix(rows: rows, columns: dim, values: x), batch: images,
                                                 taskCount: taskCount, ForwardContext(training: false)).shared.values
            var later = context
            later.noise!.step += 1
            let noisyOutput = block.forwardTaskStreams(Matrix(rows: rows, columns: dim, values: x), batch: images,
                                                         taskCount: taskCount, context).shared.values
            #expect(noisyOutput != plain)
            #expect(noisyOutput == block.forwardTaskStreams(Matrix(rows: rows, columns: dim, values: x), batch: images,
                                                            taskCount: taskCount, context).shared.values)
            #expect(noisyOutput != block.forwardTaskStreams(Matrix(rows: rows, columns: dim, values: x), batch: images,
                                                            taskCount: taskCount, later).shared.values)
        }
        let out = block.forwardTaskStreams(Matrix(rows: rows, columns: dim, values: x), batch: images,
                                           taskCount: taskCount, context)
        for parameter in block.parameters { parameter.zeroGradient() }
        let dx = out.pullback(Matrix(rows: rows, columns: dim, values: weights[0]),
                              weights.dropFirst().map { Matrix(rows: rows, columns: dim, values: $0) })
        expectGradientsMatch(dx.values, numericGradient(x, step: 0.01, loss), "dL/dx")
        // A task module of fc1 (fed by its task's LayerNorm) and one of fc2 (after GELU), and a
        // shared module of proj (whose output every stream's residual carries).
        let probes = [streams(block)[1].tasks[1], streams(block)[2].tasks[0], streams(block)[0].shared!]
        for probe in probes {
            let saved = probe.branch.factors
            for (part, values) in [("A", saved.a), ("B", saved.b)] {
                let numeric = numericGradient(values, step: 0.01) { changed in
                    var factors = saved
                    if part == "A" { factors.a = changed } else { factors.b = changed }
                    probe.branch.setParameters(factors: factors)
                    defer { probe.branch.setParameters(factors: saved) }
                    return loss(x)
                }
                expectGradientsMatch(part == "A" ? probe.branch.gradient.a : probe.branch.gradient.b, numeric,
                                     "dL/d\(part) of \(probe.branch.weightA.name)")
            }
        }
    }
}

@Suite struct TaskStreamLayoutTests {
    let tasks: [TaskName] = [.semseg, .normals]

    func model() -> MultiTaskModel {
        MultiTaskModel(shape: tinyShape, imageSize: 32, tasks: tasks, outputs: [.semseg: 3, .normals: 3],
                       decoderChannels: [2, 3, 4, 5], seed: 1)
    }

    func predictions(_ model: MultiTaskModel, adaptation: BackboneAdaptation?, images: Matrix) -> [TaskName: Matrix] {
        let context = ForwardContext(training: false)
        return adaptation.map { $0.forward(model, images, batch: 2, context).predictions }
            ?? model.forward(images, batch: 2, context).predictions
    }

    static let methods: [MethodOptions] = [
        MethodOptions.defaults(for: .mtlora),
        MethodOptions.defaults(for: .faar),
        MethodOptions(method: .mtlora, adapter: .dora, taskSpecificStages: [3, 4], adaptPatchMerging: true),
        MethodOptions(method: .tglora, groupsPerStage: [1, 1, 2, 2],
                      taskGroups: [.shared(taskCount: 2), .shared(taskCount: 2), .singletons(taskCount: 2),
                                   .singletons(taskCount: 2)]),
    ]

    @Test(arguments: methods)
    func withZeroUpdatesEveryStreamIsTheFrozenModel(options: MethodOptions) {
        let frozen = model(), adapted = model()
        let adaptation = BackboneAdaptation(options: options, model: adapted, seed: 4)
        #expect(adaptation.modules.allSatisfy { $0.module.branch.factors.b.allSatisfy { $0 == 0 } })
        let images = randomMatrix(rows: 2 * 32 * 32, columns: 3, seed: 8)
        let reference = predictions(frozen, adaptation: nil, images: images)
        let streamed = predictions(adapted, adaptation: adaptation, images: images)
        for task in tasks {
            let worst = zip(reference[task]!.values, streamed[task]!.values).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-4, "\(options.method) \(task): worst difference \(worst)")
        }
    }

    /// tinyShape: C = 8, depths 2-1-1-1, stage dims 8, 16, 32, 64. Shared modules as LoRA's
    /// (16 r C per block: qkv 4C, proj 2C, fc1 5C, fc2 5C, times r). A task module on the last
    /// block of a stage: proj k (2C), fc1 k (5C), fc2 k (5C) = 12 k C; DoRA adds one magnitude
    /// per output: shared 9C per block, task C + 4C + C = 6C.
    @Test(arguments: [LowRankKind.lora, .dora])
    func parameterCountsMatchACountByHand(kind: LowRankKind) {
        let model = model()
        let before = model.parameterCounts
        let (r, k) = (3, 2)
        let adaptation = BackboneAdaptation(
            options: MethodOptions(method: .mtlora, adapter: kind, rank: r, taskRank: k, othersTrain: false),
            model: model, seed: 1)
        let blockDims = [8, 8, 16, 32, 64], lastBlockDims = [8, 16, 32, 64]
        let shared = blockDims.map { 16 * r * $0 + (kind == .dora ? 9 * $0 : 0) }.reduce(0, +)
        let perTask = lastBlockDims.map { 12 * k * $0 + (kind == .dora ? 6 * $0 : 0) }.reduce(0, +)
        let adapters = shared + tasks.count * perTask
        #expect(adaptation.modules.count == 5 * 4 + tasks.count * 4 * 3)
        #expect(model.parameterCounts.trainable == before.decoder + adapters)
        #expect(model.parameterCounts.total == before.total + adapters)
        #expect(Set(adaptation.ranks.keys).contains("layers.2.blocks.0.mlp.fc1.task.normals"))
        #expect(Set(adaptation.ranks.keys).contains("layers.0.blocks.0.attn.qkv.shared"))
        // Only the first TS stage given: stage 4 alone splits.
        let stage4 = BackboneAdaptation(options: MethodOptions(method: .mtlora, rank: r, taskRank: k, taskSpecificStages: [4]),
                                        model: self.model(), seed: 1)
        #expect(stage4.modules.filter { $0.layer.contains(".task.") }.map(\.module.parameterCount).reduce(0, +)
                == tasks.count * 12 * k * 64)
    }

    @Test func taskFeaturesComeFromEachTasksStream() {
        let model = model()
        let adaptation = BackboneAdaptation(options: MethodOptions(method: .mtlora, taskSpecificStages: [2, 4]),
                                            model: model, seed: 1)
        for (_, module) in adaptation.modules where module.branch.weightA.name.contains(".task.normals") {
            var factors = module.branch.factors
            factors.b = factors.b.indices.map { Float($0 % 7) * 0.01 }
            module.branch.setParameters(factors: factors)
        }
        let images = randomMatrix(rows: 32 * 32, columns: 3, seed: 9)
        let (features, _) = model.backbone.forward(images, batch: 1, ForwardContext(training: false),
                                                   layout: adaptation.layout, taskCount: 2)
        func same(_ level: Int) -> Bool { features[0][level].values.values == features[1][level].values.values }
        // Stage 2 and 4 split (levels 1 and 3); stages 1 and 3 give the shared features to both.
        #expect(same(0) && same(2))
        #expect(!same(1) && !same(3))
    }
}

@Suite struct TaskStreamRunTests {
    @Test func mtloraRunTrainsTaskModulesAndLogsTheirRanks() throws {
        let directory = temporaryRunDirectory(), lora = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: directory); try? FileManager.default.removeItem(at: lora) }
        try MethodRunTests().run(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 1, "method": "mtlora", "rank": 4, "pdrs": true}"#,
                                 in: directory)
        try MethodRunTests().run(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 1, "method": "lora", "rank": 4}"#, in: lora)
        let metrics = try MethodRunTests().metrics(in: directory), shared = try MethodRunTests().metrics(in: lora)
        let ranks = try #require(metrics.ranks)
        // swin_nano: 4 blocks, each the last of its stage: 4 shared modules and 3 x 4 task ones per block.
        #expect(ranks.keys.filter { $0.hasSuffix(".shared") }.count == 16)
        #expect(ranks.keys.filter { $0.contains(".task.") }.count == 4 * 3 * 4)
        // Task streams cost work and parameters beyond the shared layout.
        #expect(metrics.gmacs > shared.gmacs)
        #expect(metrics.parameters.trainable > shared.parameters.trainable)
        let checkpoint = try Checkpoint.read(from: directory.appendingPathComponent(Checkpoint.fileName))
        #expect(checkpoint.model.keys.contains("layers.3.blocks.0.mlp.fc2.task.normals.lora_B"))
    }

    @Test func faarRunShrinksRanksAndResumesBitIdentically() throws {
        let json = #"{"kind": "mtl_full", "profile": "smoke", "epochs": 2, "seed": 3, "method": "faar", "rank": 6, "task_rank": 3, "rho_shared": 0.7, "rho_task": 0.6, "tasks": ["semseg", "normals"]}"#
        let (whole, interrupted) = try MethodRunTests().wholeAndResumed(json)
        defer { try? FileManager.default.removeItem(at: whole); try? FileManager.default.removeItem(at: interrupted) }
        let a = try MethodRunTests().metrics(in: whole), b = try MethodRunTests().metrics(in: interrupted)
        #expect(a.tasks == b.tasks && a.parameters == b.parameters && a.gmacs == b.gmacs && a.ranks == b.ranks)
        let ranks = try #require(a.ranks)
        let taskRanks = ranks.filter { $0.key.contains(".task.") }
        #expect(taskRanks.count == 4 * 3 * 2)
        #expect(taskRanks.values.allSatisfy { $0.count == 2 && $0.allSatisfy { (1...3).contains($0) } })
        #expect(ranks.filter { $0.key.hasSuffix(".shared") }.values.contains { $0.last! < 6 })
        #expect(taskRanks.values.contains { $0.last! < 3 })
    }
}
