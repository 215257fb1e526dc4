import Foundation
import RunContract

/// A method applied to a multi-task model: what it freezes, the low-rank modules it wraps around
/// the backbone's linears, the streams the backbone runs (shared, MTLoRA's task streams, TGLoRA's
/// group streams), and the PDRS bookkeeping the training loop calls into.
///
/// Apply it after loading pretrained weights: the modules' parameters are not in a backbone file.
public final class BackboneAdaptation {
    public let options: MethodOptions
    /// Every low-rank module, by its name (the adapted layer's, and in the multi-task layouts
    /// `.shared`, `.task.<task>` or `.group.<task>+<task>` after it): the keys of the rank logs.
    public let modules: [(layer: String, module: any LowRankModule)]
    /// Which backbone stream each task's decoder reads.
    public let layout: StreamLayout
    public let tasks: [TaskName]
    /// Houlsby adapters behind every block's attention and MLP (method adapter).
    public let bottlenecks: [BottleneckAdapter]
    /// FAAR's TS-PD (and XT-Cons) in front of the decoders, when on.
    public let spectral: TaskSpectralInputs?

    public init(options: MethodOptions, model: MultiTaskModel, seed: Int) {
        self.options = options
        let backbone = model.backbone
        let tasks = model.tasks
        self.tasks = tasks
        let layout: StreamLayout
        switch options.method {
        case .mtlora, .faar:
            layout = .taskBlocks(stages: Set(options.taskSpecificStages.map { $0 - 1 }))
        case .tglora:
            guard let groups = options.taskGroups, groups.count == backbone.stageBlocks.count else {
                preconditionFailure("tglora needs one task partition per stage (MethodOptions.taskGroups)")
            }
            layout = .taskGroups(groups)
        default:
            layout = .shared
        }
        self.layout = layout
        var modules: [(String, any LowRankModule)] = []
        func module(_ base: Linear, _ name: String, rank: Int, taskSpecific: Bool) -> any LowRankModule {
            let module = options.adapter.module(
                name: name, inputs: base.inFeatures, outputs: base.outFeatures,
                rank: rank, scale: Float(options.scale.factor(rank: rank)),
                weight: UnsafeBufferPointer(base.weight.values),
                shrinking: options.rankShrinking?.options(taskSpecific: taskSpecific), dropout: Float(options.loraDropout),
                seed: UInt64(seed))
            modules.append((name, module))
            return module
        }
        /// The modules of one frozen linear in stage `stage`, in the method's layout.
        func adapted(_ base: Linear, stage: Int, taskBlock: Bool) -> any LinearLayer {
            let name = String(base.weight.name.dropLast(".weight".count))
            switch layout {
            case .shared:
                return AdaptedLinear(base: base, module: module(base, name, rank: options.rank, taskSpecific: false))
            case .taskBlocks:
                let shared = module(base, name + ".shared", rank: options.rank, taskSpecific: false)
                guard taskBlock else { return AdaptedLinear(base: base, module: shared) }
                return TaskStreamLinear(base: base, shared: shared, tasks: tasks.map { task in
                    module(base, name + ".task." + task.rawValue, rank: options.taskRank, taskSpecific: true)
                })
            case .taskGroups(let partitions):
                let partition = partitions[stage]
                let ranks = stage == partitions.count - 1
                    ? partition.groups.map { options.taskRank * $0.count }
                    : TaskGrouping.groupRanks(partition, combinedRank: options.rank)
                return GroupedLinear(base: base, modules: zip(partition.groups, ranks).map { group, rank in
                    module(base, name + "." + BackboneAdaptation.groupName(group, of: tasks), rank: rank,
                           taskSpecific: group.count < tasks.count)
                })
            }
        }
        if options.usesLowRankAdapters {
            for (index, blocks) in backbone.stageBlocks.enumerated() {
                // Patch merging is one layer every stream passes through: one shared module.
                if options.adaptPatchMerging, let merging = backbone.patchMergings[index],
                   let base = merging.reduction as? Linear {
                    let name = String(base.weight.name.dropLast(".weight".count)) + (layout == .shared ? "" : ".shared")
                    merging.reduction = AdaptedLinear(base: base, module: module(base, name, rank: options.rank,
                                                                                 taskSpecific: false))
                }
                for (j, block) in blocks.enumerated() {
                    let lastBlock = j == blocks.count - 1
                    for site in options.locations.layers {
                        var taskBlock = false
                        if case .taskBlocks(let stages) = layout {
                            taskBlock = lastBlock && stages.contains(index) && site != .qkv
                        }
                        // Swin's qkv is one linear, PVT-v2's two (q, kv): each gets its own modules.
                        block[site] = block[site].map { layer in
                            guard let base = layer as? Linear else { return layer }
                            return adapted(base, stage: index, taskBlock: taskBlock)
                        }
                    }
                }
            }
        }
        self.modules = modules
        var bottlenecks: [BottleneckAdapter] = []
        if options.method == .adapter {
            // Behind each sublayer's output projection: attention's proj, the MLP's fc2.
            for block in backbone.stageBlocks.flatMap({ $0 }) {
                for site in [MethodOptions.LinearSite.proj, .fc2] {
                    guard let base = block[site].first as? Linear else { continue }
                    let adapter = BottleneckAdapter(wrapping: base, name: String(base.weight.name.dropLast(".weight".count)),
                                                    bottleneck: options.bottleneck, seed: UInt64(seed))
                    bottlenecks.append(adapter)
                    block[site] = [adapter]
                }
            }
        }
        self.bottlenecks = bottlenecks
        if options.spectralFilter {
            spectral = TaskSpectralInputs(
                tasks: model.tasks, features: Array(zip(backbone.featureChannels, backbone.featureSides)),
                crossTaskConsensus: options.crossTaskConsensus,
                lowCutoff: options.consensusLowCutoff, highCutoff: options.consensusHighCutoff)
        } else {
            spectral = nil
        }

        backbone.setDropPath(rate: options.dropPathRate)

        switch options.method {
        case .full:
            break
        case .decoders:
            model.freezeBackbone()
        case .bitfit, .lora, .mtlora, .tglora, .faar, .adapter:
            // The frozen backbone, but for what the method trains of it: BitFit its biases, and
            // MTLoRA's "others" (`Backbone.otherParameters`) when the options say so.
            let others = options.othersTrain ? Set(backbone.otherParameters.map(ObjectIdentifier.init)) : []
            for parameter in backbone.parameters where parameter.role == .backbone {
                parameter.setTrainable((options.method == .bitfit && parameter.kind == .bias)
                                       || others.contains(ObjectIdentifier(parameter)))
            }
        }
    }

    /// Parameters the method adds outside the model's layers (TS-PD's), all decoder-side.
    public var parameters: [Parameter] { spectral?.parameters ?? [] }

    /// What metrics.json's `extra` records of the method: TS-PD's parameters (XT-Cons included)
    /// as `parameters.ts_pd`, FAAR's supplementary Table 5; TGLoRA's groups, as
    /// `TaskGroupEntry`s (`groups.stage<k>.<task>` = the index of the task's group in stage k).
    public var summary: [String: Double] {
        var entries: [String: Double] = [:]
        if spectral != nil { entries["parameters.ts_pd"] = Double(parameters.map(\.count).reduce(0, +)) }
        guard case .taskGroups(let partitions) = layout else { return entries }
        for (stage, partition) in partitions.enumerated() {
            for (t, task) in tasks.enumerated() {
                entries[TaskGroupEntry(stage: stage + 1, task: task.rawValue, group: partition.group(of: t)).key]
                    = Double(partition.group(of: t))
            }
        }
        return entries
    }

    /// A group's module name: `shared` for all tasks, `task.<task>` for one, else
    /// `group.<task>+<task>...`.
    static func groupName(_ group: [Int], of tasks: [TaskName]) -> String {
        if group.count == tasks.count { return "shared" }
        if group.count == 1 { return "task." + tasks[group[0]].rawValue }
        return "group." + group.map { tasks[$0].rawValue }.joined(separator: "+")
    }

    /// The model's forward pass as the method runs it.
    public func forward(_ model: MultiTaskModel, _ images: Matrix, batch: Int, _ context: ForwardContext)
        -> (predictions: [TaskName: Matrix], pullback: ([TaskName: Matrix]) -> Void) {
        model.forward(images, batch: batch, context, layout: layout, spectral: spectral)
    }

    /// Forward MACs for one image as the method runs the model (every stream, TS-PD's FFTs
    /// included), with once-per-pass work shared by the `imagesPerPass` images of a batch.
    public func forwardMACs(_ model: MultiTaskModel, imagesPerPass: Int = 1) -> Int {
        model.forwardMACs(layout: layout, spectral: spectral, imagesPerPass: imagesPerPass)
    }

    // MARK: PDRS, as the training loop drives it

    /// After each backward pass, before clipping and the optimizer step.
    public func recordImportance() {
        for (_, module) in modules { module.branch.recordImportance() }
    }

    /// At each epoch end: applies the coverage rule when `shrinks` (every epoch but the last) and
    /// returns every module's rank (empty without PDRS, whose ranks never change).
    public func epochEnded(shrinks: Bool = true) -> [String: Int] {
        guard options.rankShrinking != nil else { return [:] }
        if shrinks { for (_, module) in modules { module.branch.shrinkRank() } }
        return ranks
    }

    public var ranks: [String: Int] {
        Dictionary(uniqueKeysWithValues: modules.map { ($0.layer, $0.module.rank) })
    }

    /// The model's counts as the method runs it: components PDRS erased stay in their buffers
    /// but count nowhere; TS-PD's parameters count as decoder parameters.
    public func parameterCounts(_ model: MultiTaskModel) -> ParameterCounts {
        var counts = model.parameterCounts
        counts.trainable -= erasedParameterCount
        counts.total -= erasedParameterCount
        let spectral = parameters.map(\.count).reduce(0, +)
        counts.trainable += spectral
        counts.total += spectral
        counts.decoder += spectral
        return counts
    }

    /// Stored values of erased components: in the parameters' buffers, out of every count.
    public var erasedParameterCount: Int {
        modules.map { $0.module.parameters.map(\.count).reduce(0, +) - $0.module.parameterCount }.reduce(0, +)
    }

    // MARK: checkpoints

    static let statePrefix = "pdrs."

    /// PDRS state by module: live component order, EMA scores and observation counts.
    public func state() -> [String: StoredTensor] {
        var tensors: [String: StoredTensor] = [:]
        for (layer, module) in modules {
            guard let state = module.branch.shrinkingState else { continue }
            let key = Self.statePrefix + layer
            tensors[key + ".live"] = StoredTensor(shape: [state.live.count], values: state.live.map(Float.init))
            // Checkpoints hold Floats; each EMA score travels as its 64 bits in four 16-bit pieces.
            tensors[key + ".importance"] = StoredTensor(
                shape: [state.importance.count, 4],
                values: state.importance.flatMap { value in (0..<4).map { Float((value.bitPattern >> (16 * $0)) & 0xFFFF) } })
            tensors[key + ".observations"] = StoredTensor(shape: [state.observations.count],
                                                          values: state.observations.map(Float.init))
            // Counts as two Floats (high and low 24 bits), exact far beyond any run's length.
            tensors[key + ".draws"] = StoredTensor(shape: [2], values: [Float(state.draws >> 24), Float(state.draws & 0xFF_FFFF)])
        }
        return tensors
    }

    public func restore(_ tensors: [String: StoredTensor]) throws {
        for (layer, module) in modules where module.branch.shrinker != nil {
            let key = Self.statePrefix + layer
            guard let live = tensors[key + ".live"], let importance = tensors[key + ".importance"],
                  let observations = tensors[key + ".observations"], let draws = tensors[key + ".draws"] else {
                throw WeightsError.missing(names: [key + ".live"], file: Checkpoint.fileName)
            }
            let scores = stride(from: 0, to: importance.values.count, by: 4).map { start in
                Double(bitPattern: (0..<4).reduce(UInt64(0)) { $0 | UInt64(importance.values[start + $1]) << (16 * $1) })
            }
            module.branch.restoreShrinking(live: live.values.map { Int($0) }, importance: scores,
                                           observations: observations.values.map { Int($0) },
                                           draws: Int(draws.values[0]) << 24 + Int(draws.values[1]))
        }
    }
}
