import Foundation
import Tensors
import RunContract
import Testing
@testable import Engine

/// The stream layouts through a whole backbone: gradients, TGLoRA's parameter counts, and the
/// task_similarity -> tglora pipeline.
@Suite struct BackboneStreamGradientTests {
    let tasks: [TaskName] = [.semseg, .depth, .normals]

    func model() -> MultiTaskModel {
        MultiTaskModel(shape: tinyShape, imageSize: 32, tasks: tasks, outputs: [.semseg: 3, .depth: 1, .normals: 3],
                       decoderChannels: [2, 3, 4, 5], seed: 1)
    }

    static let layouts: [MethodOptions] = [
        MethodOptions(method: .tglora, rank: 4, taskRank: 2, groupsPerStage: [1, 2, 2, 3],
                      taskGroups: [TaskPartition([[0, 1, 2]]), TaskPartition([[0, 2], [1]]), TaskPartition([[0, 2], [1]]),
                                   TaskPartition([[0], [1], [2]])]),
        MethodOptions(method: .mtlora, rank: 3, taskRank: 2, taskSpecificStages: [1, 3], adaptPatchMerging: true),
    ]

    /// Loss = sum over tasks and levels of the features weighted by fixed random maps; the
    /// backbone's pullback against central differences on modules of every stage.
    @Test(arguments: layouts)
    func featureGradientsMatchFiniteDifferences(options: MethodOptions) {
        let model = model()
        let adaptation = BackboneAdaptation(options: options, model: model, seed: 2)
        var generator = SeededRandom(seed: 71)
        for (_, module) in adaptation.modules {
            var factors = module.branch.factors
            factors.b = generator.floats(factors.b.count, in: -0.3...0.3)
            module.branch.setParameters(factors: factors)
        }
        let images = randomMatrix(rows: 32 * 32, columns: 3, seed: 5)
        func run() -> (features: [[FeatureMap]], pullback: ([[Matrix?]]) -> Void) {
            model.backbone.forward(images, batch: 1, ForwardContext(training: false), layout: adaptation.layout,
                                   taskCount: tasks.count)
        }
        let (features, pullback) = run()
        let weights = features.map { $0.map { generator.floats($0.values.values.count) } }
        func loss() -> Double {
            let features = run().features
            return features.indices.map { t in
                features[t].indices.map { weightedSum(features[t][$0].values.values, weights[t][$0]) }.reduce(0, +)
            }.reduce(0, +)
        }
        for parameter in model.parameters { parameter.zeroGradient() }
        pullback(weights.enumerated().map { t, perLevel in
            perLevel.enumerated().map { level, w in
                Matrix(rows: features[t][level].values.rows, columns: features[t][level].channels, values: w)
            }
        })
        // One module per stage and kind: the first of each distinct name pattern, a few B entries each.
        let probes = ["layers.0.blocks.1.attn.proj", "layers.1.blocks.0.mlp.fc1", "layers.2.blocks.0.mlp.fc2",
                      "layers.3.blocks.0.attn.qkv", "layers.2.downsample.reduction"]
        var checked = 0
        for (name, module) in adaptation.modules where probes.contains(where: { name.hasPrefix($0) }) {
            let saved = module.branch.factors
            let entries = Array(stride(from: 0, to: saved.b.count, by: max(1, saved.b.count / 5)))
            let numeric = entries.map { k -> Float in
                func at(_ delta: Float) -> Double {
                    var factors = saved
                    factors.b[k] += delta
                    module.branch.setParameters(factors: factors)
                    defer { module.branch.setParameters(factors: saved) }
                    return loss()
                }
                return Float((at(0.01) - at(-0.01)) / 0.02)
            }
            expectGradientsMatch(entries.map { module.branch.gradient.b[$0] }, numeric, "dL/dB of \(name)")
            checked += 1
        }
        #expect(checked >= 8)
    }

    /// tinyShape (C = 8, depths 2-1-1-1, stage dims 8, 16, 32, 64), attn + mlp: a module of rank
    /// r on a block of dim C holds 16 r C values. Combined rank 6 split by group size (3 tasks):
    /// stage 1 one group of 6; stages 2 and 3 groups {semseg, normals}, {depth}: 4 + 2; stage 4
    /// one group per task at rank 4 each (task_rank), 12.
    @Test func tgloraParameterCountsMatchACountByHand() {
        let model = model()
        let before = model.parameterCounts
        let partitions = [TaskPartition([[0, 1, 2]]), TaskPartition([[0, 2], [1]]), TaskPartition([[0, 2], [1]]),
                          TaskPartition([[0], [1], [2]])]
        let adaptation = BackboneAdaptation(
            options: MethodOptions(method: .tglora, rank: 6, taskRank: 4, othersTrain: false, groupsPerStage: [1, 2, 2, 3],
                                   taskGroups: partitions),
            model: model, seed: 1)
        let adapters = 16 * (6 * 8 * 2 + 6 * 16 + 6 * 32 + 12 * 64)
        #expect(model.parameterCounts.trainable == before.decoder + adapters)
        #expect(model.parameterCounts.total == before.total + adapters)
        let names = Set(adaptation.ranks.keys)
        #expect(names.contains("layers.0.blocks.0.attn.qkv.shared"))
        #expect(names.contains("layers.1.blocks.0.mlp.fc1.group.semseg+normals"))
        #expect(names.contains("layers.2.blocks.0.attn.proj.task.depth"))
        #expect(adaptation.ranks["layers.1.blocks.0.mlp.fc1.group.semseg+normals"] == 4)
        #expect(adaptation.ranks["layers.3.blocks.0.mlp.fc2.task.normals"] == 4)
        #expect(adaptation.summary["groups.stage2.normals"] == 0 && adaptation.summary["groups.stage2.depth"] == 1)
    }
}

@Suite struct TaskSimilarityRunTests {
    func writeBackbone(to url: URL) throws {
        try SwinBackbone(shape: BackboneShape.named("swin_nano")!, imageSize: 32, seed: 11).exportWeights().write(to: url)
    }

    @Test func similarityRunFeedsATGLoRARun() throws {
        let root = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let backbone = root.appendingPathComponent("backbone.safetensors")
        try writeBackbone(to: backbone)
        let similarityRun = root.appendingPathComponent("similarity"), tgloraRun = root.appendingPathComponent("tglora")
        try MethodRunTests().run("""
            {"kind": "task_similarity", "profile": "smoke", "epochs": 1, "pretrained": "\(backbone.path)",
             "similarity_examples": 3}
            """, in: similarityRun)
        let metrics = try MethodRunTests().metrics(in: similarityRun)
        #expect(metrics.artifacts["similarity"] == TaskSimilarity.fileName)
        let file = similarityRun.appendingPathComponent(TaskSimilarity.fileName)
        let similarity = try TaskSimilarity.read(from: file.path, tasks: DatasetName.pascal.tasks.map(\.rawValue))
        #expect(similarity.examples == 3)
        for t in 0..<4 {
            #expect(similarity[t, t] == 1)
            for u in 0..<4 where u != t {
                #expect(similarity[t, u] == similarity[u, t] && abs(similarity[t, u]) <= 1 + 1e-9)
                #expect(metrics.extra["similarity.\(similarity.tasks[min(t, u)]).\(similarity.tasks[max(t, u)])"] == similarity[t, u])
            }
        }
        // Different tasks pull the frozen backbone in different directions.
        #expect(similarity.matrix.joined().contains { abs($0) < 0.999 })

        try MethodRunTests().run("""
            {"kind": "mtl_full", "profile": "smoke", "epochs": 1, "pretrained": "\(backbone.path)", "method": "tglora",
             "rank": 4, "task_similarity": "\(file.path)"}
            """, in: tgloraRun)
        let tglora = try MethodRunTests().metrics(in: tgloraRun)
        let expected = try TaskGrouping.stages(groupsPerStage: [1, 2, 3, 4], similarity: similarity)
        for (stage, partition) in expected.enumerated() {
            for (t, task) in DatasetName.pascal.tasks.enumerated() {
                #expect(tglora.extra["groups.stage\(stage + 1).\(task.rawValue)"] == Double(partition.group(of: t)))
            }
        }
        // Without PDRS the ranks never change and are not logged; the modules are in the checkpoint.
        let stored = try Checkpoint.read(from: tgloraRun.appendingPathComponent(Checkpoint.fileName)).model.keys
        #expect(stored.filter { $0.hasPrefix("layers.1.blocks.0.attn.qkv.") && $0.hasSuffix(".lora_A") }.count == 2)
        #expect(stored.filter { $0.hasPrefix("layers.3.blocks.0.mlp.fc2.task.") && $0.hasSuffix(".lora_A") }.count == 4)
        #expect(tglora.parameters.trainable > tglora.parameters.decoder)
    }

    @Test func tgloraWithRankShrinkingResumesBitIdentically() throws {
        // 1-1-2-2 over two tasks needs no similarity: shared, then one group per task.
        let json = #"{"kind": "mtl_full", "profile": "smoke", "epochs": 2, "seed": 4, "method": "tglora", "tasks": ["semseg", "normals"], "groups_per_stage": [1, 1, 2, 2], "rank": 4, "task_rank": 2, "pdrs": true, "rho_shared": 0.7, "rho_task": 0.7}"#
        let (whole, interrupted) = try MethodRunTests().wholeAndResumed(json)
        defer { try? FileManager.default.removeItem(at: whole); try? FileManager.default.removeItem(at: interrupted) }
        let a = try MethodRunTests().metrics(in: whole), b = try MethodRunTests().metrics(in: interrupted)
        #expect(a.tasks == b.tasks && a.parameters == b.parameters && a.ranks == b.ranks && a.extra == b.extra)
        let ranks = try #require(a.ranks)
        // Stage 3 and 4 (one block each in swin_nano) have a module per task on each of 4 linears.
        #expect(ranks.keys.filter { $0.contains(".task.") }.count == 2 * 4 * 2)
        #expect(ranks.keys.filter { $0.hasSuffix(".shared") }.count == 2 * 4)
        #expect(a.extra["groups.stage2.normals"] == 0 && a.extra["groups.stage3.normals"] == 1)
    }

    @Test func tgloraConfigErrorsNameTheKey() throws {
        func error(_ json: String) -> ConfigError? {
            do { _ = try RunConfig.parse(Data(json.utf8), file: "config.json"); return nil } catch let error as ConfigError {
                return error
            } catch { return nil }
        }
        #expect(error(#"{"kind": "mtl_full", "method": "tglora"}"#)?.key == "task_similarity")
        // 1-1-1-4 (4 tasks) needs no similarity: shared, then one group per task.
        #expect(error(#"{"kind": "mtl_full", "method": "tglora", "groups_per_stage": [1, 1, 1, 4]}"#) == nil)
        let root = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let partial = root.appendingPathComponent("similarity.json")
        try TaskSimilarity(tasks: ["semseg", "normals"], matrix: [[1, 0.5], [0.5, 1]], examples: 2).write(to: partial)
        let missing = error(#"{"kind": "mtl_full", "method": "tglora", "task_similarity": "\#(partial.path)"}"#)
        #expect(missing?.key == "task_similarity" && missing?.message.contains("human_parts") == true)
        #expect(error(#"{"kind": "mtl_full", "method": "tglora", "tasks": ["semseg", "normals"], "task_similarity": "\#(partial.path)"}"#) == nil)
        #expect(error(#"{"kind": "mtl_full", "similarity_examples": 4}"#)?.key == "similarity_examples")

        // Explicit groups (TGLoRA's Table 4 swaps tasks between groups) need no similarity.
        let explicit = #"{"kind": "mtl_full", "method": "tglora", "tasks": ["semseg", "depth", "normals"], "dataset": "nyud", "task_groups": "#
        let options = try MethodOptions(config: RunConfig.parse(Data((explicit + #"[[["semseg", "depth", "normals"]], [["semseg"], ["normals", "depth"]], [["semseg"], ["normals", "depth"]], [["semseg"], ["depth"], ["normals"]]]}"#).utf8), file: "config.json"), file: "config.json")
        #expect(options.groupsPerStage == [1, 2, 2, 3])
        #expect(options.taskGroups?[1] == TaskPartition([[0], [1, 2]]) && options.taskGroups?[3] == .singletons(taskCount: 3))
        let merging = error(explicit + #"[[["semseg", "depth", "normals"]], [["semseg"], ["depth", "normals"]], [["semseg", "depth"], ["normals"]], [["semseg"], ["depth"], ["normals"]]]}"#)
        #expect(merging?.key == "task_groups" && merging?.message.contains("stage 3") == true)
        #expect(error(explicit + #"[[["semseg", "depth"]], [["semseg", "depth", "normals"]], [["semseg", "depth", "normals"]], [["semseg"], ["depth"], ["normals"]]]}"#)?
            .message.contains("normals is in no group") == true)
        #expect(error(explicit + #"[[["semseg", "depth", "normals"]]]}"#)?.message.contains("got 1 stages") == true)
        #expect(error(explicit + #"[[["semseg", "depth", "normals"]], [["semseg", "depth", "normals"]], [["semseg", "depth", "normals"]], [["semseg", "depth", "normals"]]], "groups_per_stage": [1, 1, 1, 1]}"#)?.key == "groups_per_stage")
        #expect(error(#"{"kind": "task_similarity"}"#)?.key == "pretrained")

        // swap_tasks exchanges two tasks in every stage's groups; the nesting survives.
        let given = #"[[["semseg", "depth", "normals"]], [["semseg"], ["depth", "normals"]], [["semseg"], ["depth", "normals"]], [["semseg"], ["depth"], ["normals"]]]"#
        let swapped = try MethodOptions(config: RunConfig.parse(Data((explicit + given + #", "swap_tasks": ["semseg", "normals"]}"#).utf8),
                                                                file: "config.json"), file: "config.json")
        #expect(swapped.taskGroups?[1] == TaskPartition([[2], [0, 1]]) && swapped.taskGroups?[2] == TaskPartition([[2], [0, 1]]))
        #expect(swapped.taskGroups?[0] == .shared(taskCount: 3) && swapped.taskGroups?[3] == .singletons(taskCount: 3))
        #expect(zip(swapped.taskGroups!, swapped.taskGroups!.dropFirst()).allSatisfy { $1.refines($0) })
        #expect(error(explicit + given + #", "swap_tasks": ["semseg"]}"#)?.key == "swap_tasks")
        #expect(error(explicit + given + #", "swap_tasks": ["semseg", "saliency"]}"#)?.key == "swap_tasks")
        #expect(error(#"{"kind": "mtl_full", "method": "mtlora", "swap_tasks": ["semseg", "normals"]}"#)?.key == "swap_tasks")
    }

    @Test func swappingExchangesTwoTasksAndKeepsTheRest() {
        let partition = TaskPartition([[0, 3], [1, 2]])
        #expect(partition.swapping(0, 1) == TaskPartition([[1, 3], [0, 2]]))
        #expect(partition.swapping(0, 3) == partition)
        #expect(partition.swapping(1, 0).swapping(1, 0) == partition)
    }
}
