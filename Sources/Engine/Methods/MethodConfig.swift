import Foundation
import RunContract

/// The run-config keys of the adapter methods, checked by `RunConfig.parse` like the core's.
extension ConfigSchema {
    public static let methodKeys: [ConfigKey] = [
        ConfigKey("method", .choice(MethodOptions.Method.allCases.map(\.rawValue)),
                  default: .rule("full; decoders for kinds mtl_decoders and task_similarity"),
                  "how the backbone adapts (docs/methods.md)"),
        ConfigKey("adapter", .choice(LowRankKind.allCases.map(\.rawValue)), default: lowRank { $0.adapter.rawValue },
                  "low-rank module kind"),
        ConfigKey("lora_scale_convention", .choice(["raw", "alpha_over_r"]), default: .value(.string("raw")),
                  "raw: a fixed factor lora_scale (MTLoRA's code); alpha_over_r: lora_alpha / r"),
        ConfigKey("lora_scale", .real(0...1e6), default: lowRank { if case .raw(let s) = $0.scale { ConfigKey.describe(s) } else { nil } },
                  "the raw convention's scale factor"),
        ConfigKey("lora_alpha", .real(0...1e6), default: .rule("r"), "alpha of the alpha_over_r convention"),
        ConfigKey("rank", .integer(1...4096), default: lowRank { "\($0.rank)" },
                  "rank of shared modules (FAAR: r_init; TGLoRA: the combined rank of a layer)"),
        ConfigKey("task_rank", .integer(1...4096), default: lowRank { $0.hasTaskStreams ? "\($0.taskRank)" : nil },
                  "rank of task-specific modules (faar: rank, since FAAR §4.4 says \"r_init defines the initial rank of all layers\")"),
        ConfigKey("adapter_locations", .choice(MethodOptions.Locations.allCases.map(\.rawValue)),
                  default: lowRank { $0.locations.rawValue },
                  "which linears of a block carry modules: attn (qkv, proj), attn_mlp (and fc1, fc2) or "
                  + "attn_mlp_others (and the others train)"),
        ConfigKey("others_trainable", .bool, default: .method { "\($0.othersTrain)" },
                  "patch embedding, LayerNorms, relative position tables and patch merging train too "
                  + "(tglora: true only with adapter_locations attn_mlp_others)"),
        ConfigKey("adapt_patch_merging", .bool, default: lowRank { "\($0.adaptPatchMerging)" },
                  "low-rank modules on the patch-merging reductions (MTLoRA+)"),
        ConfigKey("task_specific_stages", .choice(["4", "3", "4,3", "4,3,2,1"]),
                  default: .method { [.mtlora, .faar].contains($0.method)
                      ? $0.taskSpecificStages.sorted(by: >).map(String.init).joined(separator: ",") : nil },
                  "stages whose last block has task-specific modules, as the supplementary's TS-blocks"),
        ConfigKey("groups_per_stage", .integers(count: 4, each: 1...64),
                  default: .rule("one group fewer per stage away from the decoders: 1-2-3-4 (4 tasks), 1-1-2-3 (3 tasks)"),
                  "TGLoRA task groups per stage, first to last, never decreasing"),
        ConfigKey("task_similarity", .file, default: .none,
                  "TGLoRA: the similarity.json a task_similarity run wrote (required unless every stage has 1 or T groups, "
                  + "or task_groups is given)"),
        ConfigKey("task_groups", .nameGroups(stages: 4, names: ConfigSchema.taskNames),
                  default: .rule("derived from task_similarity"),
                  "TGLoRA: every stage's task groups by task name, first to last"),
        ConfigKey("swap_tasks", .names(ConfigSchema.taskNames), default: .none,
                  "TGLoRA: two tasks that exchange their places in every stage's groups, derived or given (Table 4's "
                  + "\"less similar tasks grouped\"; a no-op in stages where they share a group or sit alone)"),
        ConfigKey("similarity_examples", .integer(1...1_000_000), default: .value(.int(32)),
                  "kind task_similarity: training images N the gradient similarity averages over (at most train_images; "
                  + "the default, 32, is capped at it)"),
        ConfigKey("pdrs", .bool, default: lowRank { "\($0.rankShrinking != nil)" }, "FAAR's rank shrinking"),
        ConfigKey("rho_shared", .real(0.000001...1), default: shrinking { ConfigKey.describe($0.rhoShared) },
                  "PDRS coverage of shared modules"),
        ConfigKey("rho_task", .real(0.000001...1), default: shrinking { ConfigKey.describe($0.rhoTask) },
                  "PDRS coverage of task-specific modules"),
        ConfigKey("pdrs_ema_decay", .real(0...1), default: shrinking { ConfigKey.describe($0.decay) },
                  "PDRS importance EMA decay beta"),
        ConfigKey("pdrs_ema_start", .choice(RankShrinker.EMAStart.allCases.map(\.rawValue)),
                  default: shrinking { $0.emaStart.rawValue },
                  "what the coverage rule ranks: bias_corrected (the EMA over 1 - beta^n), zero (the plain EMA) or "
                  + "first_observation (the EMA starting at the first score, which is always 0: runs as zero)"),
        ConfigKey("pdrs_prefix_rescale", .bool, default: shrinking { "\($0.rescalesPrefix)" },
                  "DyLoRA's sqrt(r / b) rescaling of an active prefix"),
        ConfigKey("ts_pd", .bool, default: .method { "\($0.spectralFilter)" },
                  "FAAR's channel-wise spectral filter before each decoder input"),
        ConfigKey("xt_cons", .bool, default: .method { "\($0.crossTaskConsensus)" },
                  "FAAR's cross-task consensus inside TS-PD (needs ts_pd)"),
        ConfigKey("xt_cons_low_cutoff", .real(0...1), default: .method { ConfigKey.describe($0.consensusLowCutoff) },
                  "XT-Cons low band: normalised radius at most this"),
        ConfigKey("xt_cons_high_cutoff", .real(0...1), default: .method { ConfigKey.describe($0.consensusHighCutoff) },
                  "XT-Cons high band: normalised radius above this"),
        ConfigKey("bottleneck", .integer(1...4096), default: .method { $0.method == .adapter ? "\($0.bottleneck)" : nil },
                  "width of the bottleneck adapters of method adapter"),
        ConfigKey("lora_dropout", .real(0...0.99), default: lowRank { ConfigKey.describe($0.loraDropout) },
                  "dropout on every low-rank module's input in training"),
        ConfigKey("drop_path_rate", .real(0...0.99), default: .method { ConfigKey.describe($0.dropPathRate) },
                  "stochastic depth, rising linearly over the blocks to this rate (any fine-tuning kind)"),
    ]

    /// The preset's value, for the low-rank methods only.
    private static func lowRank(_ field: @escaping @Sendable (MethodOptions) -> String?) -> ConfigKey.Default {
        .method { $0.usesLowRankAdapters ? field($0) : nil }
    }

    /// The PDRS setting of a preset, or of PDRS switched on with its defaults.
    private static func shrinking(_ field: @escaping @Sendable (MethodOptions.RankShrinking) -> String)
        -> ConfigKey.Default {
        .method { $0.usesLowRankAdapters ? field($0.rankShrinking ?? MethodOptions.RankShrinking()) : nil }
    }
}

extension RunConfig {
    /// N of a task_similarity run: the first N training images, unaugmented.
    public var similarityExamples: Int {
        min(ConfigReader(written: values).integer("similarity_examples")!, trainImages)
    }
}

/// A partition of the run's tasks written with their names, as `{semseg,normals} {depth}`.
private func describe(_ partition: TaskPartition, _ tasks: [TaskName]) -> String {
    partition.groups.map { "{" + $0.map { tasks[$0].rawValue }.joined(separator: ",") + "}" }.joined(separator: " ")
}

extension MethodOptions {
    struct GroupsError: Error, CustomStringConvertible { let description: String }

    /// One stage of `task_groups`: every task of the run in exactly one group.
    static func partition(_ stage: JSONValue, stage index: Int, tasks: [TaskName]) -> Result<TaskPartition, GroupsError> {
        guard case .array(let groups) = stage else { return .failure(GroupsError(description: "stage \(index) is not a list of groups")) }
        var placed: [TaskName: Int] = [:]
        var partition: [[Int]] = []
        for (g, group) in groups.enumerated() {
            guard case .array(let members) = group else { return .failure(GroupsError(description: "stage \(index): a group is not a list")) }
            var indices: [Int] = []
            for member in members {
                guard case .string(let name) = member, let task = TaskName(rawValue: name), let t = tasks.firstIndex(of: task) else {
                    return .failure(GroupsError(description: "stage \(index): \(member.canonical) is not a task of this run ("
                                                + tasks.map(\.rawValue).joined(separator: ", ") + ")"))
                }
                if placed[task] != nil {
                    return .failure(GroupsError(description: "stage \(index): task \(name) is in two groups"))
                }
                placed[task] = g
                indices.append(t)
            }
            partition.append(indices)
        }
        if let missing = tasks.first(where: { placed[$0] == nil }) {
            return .failure(GroupsError(description: "stage \(index): task \(missing.rawValue) is in no group"))
        }
        return .success(TaskPartition(partition))
    }
}

extension MethodOptions {
    /// The method a validated run config selects, with the paper's defaults for every key it
    /// leaves out. Keys that make no sense for the method are errors, naming the key.
    /// `text`, the config file's contents, lets errors give the key's line.
    /// `dependenciesPending`: see `RunConfig.parse`; a `run://` task_similarity is read when the run starts.
    public init(config: RunConfig, file: String, text: String? = nil, dependenciesPending: Bool = false) throws {
        let values = config.values
        func fail(_ key: String, _ message: String) -> ConfigError {
            ConfigError(file: file, line: text.flatMap { lineOfKey(key, in: $0) }, key: key, message: message)
        }
        func string(_ key: String) -> String? { values[key]?.stringValue }
        func number(_ key: String) -> Double? { values[key]?.doubleValue }
        func bool(_ key: String) -> Bool? { values[key]?.boolValue }

        let headsOnly = config.kind == .mtlDecoders || config.kind == .taskSimilarity
        let method = string("method").flatMap(Method.init(rawValue:)) ?? (headsOnly ? .decoders : .full)
        if headsOnly, method != .decoders {
            throw fail("method", "kind \(config.kind.rawValue) trains the decoders only; method \(method.rawValue) needs kind mtl_full")
        }
        if let examples = number("similarity_examples") {
            if config.kind != .taskSimilarity { throw fail("similarity_examples", "only kind task_similarity takes it") }
            if Int(examples) > config.trainImages {
                throw fail("similarity_examples", "at most train_images (\(config.trainImages)), got \(Int(examples))")
            }
        }
        if config.kind == .taskSimilarity, config.tasks.count < 2 {
            throw fail("tasks", "a task similarity needs at least two tasks")
        }
        if config.kind == .pretrain, values["method"] != nil {
            throw fail("method", "pretrain runs train the whole backbone; they take no method")
        }
        if config.kind == .singleTask, [.mtlora, .tglora, .faar].contains(method) {
            throw fail("method", "\(method.rawValue) is a multi-task method; use kind mtl_full")
        }
        self = MethodOptions.defaults(for: method)

        let lowRankKeys = ["adapter", "lora_scale_convention", "lora_scale", "lora_alpha", "rank", "task_rank",
                           "adapter_locations", "adapt_patch_merging", "task_specific_stages", "pdrs", "rho_shared",
                           "rho_task", "pdrs_ema_decay", "pdrs_ema_start", "pdrs_prefix_rescale", "lora_dropout"]
        if !usesLowRankAdapters, let key = lowRankKeys.first(where: { values[$0] != nil }) {
            throw fail(key, "only the low-rank methods (lora, mtlora, tglora, faar) take it; method is \(method.rawValue)")
        }
        if method != .tglora, let key = ["groups_per_stage", "task_similarity", "task_groups", "swap_tasks"].first(where: { values[$0] != nil }) {
            throw fail(key, "only method tglora takes it")
        }
        if method != .adapter, values["bottleneck"] != nil { throw fail("bottleneck", "only method adapter takes it") }
        if ![Method.mtlora, .faar].contains(method), values["task_specific_stages"] != nil {
            throw fail("task_specific_stages", "only methods mtlora and faar have task-specific blocks")
        }

        if let name = string("adapter") { adapter = LowRankKind(rawValue: name)! }
        if let r = number("rank") { rank = Int(r) }
        // FAAR §4.4: "r_init defines the initial rank of all layers", the task-specific ones too.
        if method == .faar { taskRank = rank }
        if let r = number("task_rank") { taskRank = Int(r) }
        switch ConfigReader(written: values).string("lora_scale_convention")! {
        case "alpha_over_r":
            if values["lora_scale"] != nil { throw fail("lora_scale", "the alpha_over_r convention takes lora_alpha instead") }
            scale = .alphaOverRank(alpha: number("lora_alpha") ?? Double(rank))
        default:
            if values["lora_alpha"] != nil {
                throw fail("lora_alpha", "the raw convention takes lora_scale; set lora_scale_convention to alpha_over_r")
            }
            if let factor = number("lora_scale") { scale = .raw(factor) }
        }
        if let name = string("adapter_locations") { locations = Locations(rawValue: name)! }
        // TGLoRA names "others" in its locations; the other methods train them unless told not to.
        if method == .tglora { othersTrain = locations == .attnMLPOthers }
        if let trainable = bool("others_trainable") {
            if !trainable, locations == .attnMLPOthers {
                throw fail("others_trainable", "adapter_locations attn_mlp_others trains the others; "
                           + "choose attn_mlp to keep them frozen")
            }
            othersTrain = trainable
        }
        if hasTaskStreams, method != .tglora, locations == .attn {
            throw fail("adapter_locations", "\(method.rawValue) puts task-specific modules on proj, fc1 and fc2; "
                       + "expected attn_mlp or attn_mlp_others")
        }
        if let adapt = bool("adapt_patch_merging") {
            if adapt, config.backbone.family == .pvtV2 {
                throw fail("adapt_patch_merging", "backbone \(config.backbone.name) is PVT-v2, which has no patch merging "
                           + "(its stages start with an overlapping conv patch embedding); MTLoRA+ needs a Swin backbone")
            }
            adaptPatchMerging = adapt
        }
        if let stages = string("task_specific_stages") {
            taskSpecificStages = stages.split(separator: ",").map { Int($0)! }.sorted()
        }
        if let groups = values["groups_per_stage"]?.integerValues {
            if let bad = groups.first(where: { $0 > config.tasks.count }) {
                throw fail("groups_per_stage", "\(bad) groups is more than the run's \(config.tasks.count) tasks")
            }
            if zip(groups, groups.dropFirst()).contains(where: { $0 > $1 }) {
                throw fail("groups_per_stage", "groups may only split going deeper; got \(groups)")
            }
            groupsPerStage = groups
        }
        if method == .tglora, case .array(let stages) = values["task_groups"] {
            if values["groups_per_stage"] != nil {
                throw fail("groups_per_stage", "task_groups gives the groups, and so their number per stage; remove one of the two")
            }
            taskGroups = try stages.enumerated().map { index, stage in
                try Self.partition(stage, stage: index + 1, tasks: config.tasks).mapError { fail("task_groups", $0.description) }.get()
            }
            for (index, (shallow, deep)) in zip(taskGroups!, taskGroups!.dropFirst()).enumerated() where !deep.refines(shallow) {
                throw fail("task_groups", "groups may only split going deeper, but stage \(index + 2) (\(describe(deep, config.tasks))) "
                           + "merges tasks that stage \(index + 1) (\(describe(shallow, config.tasks))) keeps apart")
            }
            groupsPerStage = taskGroups!.map(\.count)
        } else if method == .tglora {
            let schedule = groupsPerStage ?? TaskGrouping.defaultSchedule(taskCount: config.tasks.count, stages: 4)
            groupsPerStage = schedule
            var similarity: TaskSimilarity?
            if let path = string("task_similarity"), dependenciesPending, path.hasPrefix(ConfigValidation.dependencyScheme) {
                // Not made yet: any similarity stands in for it, to check the schedule.
                similarity = .unrelated(tasks: config.tasks.map(\.rawValue))
            } else if let path = string("task_similarity") {
                do { similarity = try TaskSimilarity.read(from: path, tasks: config.tasks.map(\.rawValue)) } catch {
                    throw fail("task_similarity", "\(error)")
                }
            }
            // Only stages between one group and one group per task depend on the similarities.
            if similarity == nil, schedule.contains(where: { $0 != 1 && $0 != config.tasks.count }) {
                throw fail("task_similarity", "tglora with groups per stage \(schedule.map(String.init).joined(separator: "-")) "
                           + "needs the similarity.json of a task_similarity run")
            }
            do {
                taskGroups = try TaskGrouping.stages(
                    groupsPerStage: schedule,
                    similarity: similarity ?? .unrelated(tasks: config.tasks.map(\.rawValue)))
            } catch {
                throw fail(values["groups_per_stage"] != nil ? "groups_per_stage" : "tasks", "\(error)")
            }
        }
        if method == .tglora, case .array(let names) = values["swap_tasks"] {
            let swapped = names.compactMap { if case .string(let name) = $0 { return name } else { return nil } }
            guard swapped.count == 2, let a = config.tasks.map(\.rawValue).firstIndex(of: swapped[0]),
                  let b = config.tasks.map(\.rawValue).firstIndex(of: swapped[1]) else {
                throw fail("swap_tasks", "needs two of the run's tasks (\(config.tasks.map(\.rawValue).joined(separator: ", "))), got \(swapped)")
            }
            // One permutation applied to every stage keeps the groups nested.
            taskGroups = taskGroups?.map { $0.swapping(a, b) }
        }

        let shrinks = bool("pdrs") ?? (rankShrinking != nil)
        if shrinks {
            var shrinking = rankShrinking ?? RankShrinking()
            if let rho = number("rho_shared") { shrinking.rhoShared = rho }
            if let rho = number("rho_task") { shrinking.rhoTask = rho }
            if let decay = number("pdrs_ema_decay") { shrinking.decay = decay }
            if let start = string("pdrs_ema_start") { shrinking.emaStart = RankShrinker.EMAStart(rawValue: start)! }
            if let rescale = bool("pdrs_prefix_rescale") { shrinking.rescalesPrefix = rescale }
            rankShrinking = shrinking
        } else {
            if let key = ["rho_shared", "rho_task", "pdrs_ema_decay", "pdrs_ema_start", "pdrs_prefix_rescale"]
                .first(where: { values[$0] != nil }) {
                throw fail(key, "PDRS is off; set pdrs to true to use it")
            }
            rankShrinking = nil
        }

        if let on = bool("ts_pd") { spectralFilter = on }
        if let on = bool("xt_cons") { crossTaskConsensus = on }
        if crossTaskConsensus, !spectralFilter {
            throw fail("xt_cons", "XT-Cons lives inside TS-PD; set ts_pd to true or xt_cons to false")
        }
        if crossTaskConsensus, config.tasks.count < 2 {
            throw fail("xt_cons", "XT-Cons needs at least two tasks")
        }
        let low = number("xt_cons_low_cutoff") ?? consensusLowCutoff, high = number("xt_cons_high_cutoff") ?? consensusHighCutoff
        if low > high { throw fail("xt_cons_low_cutoff", "must not exceed xt_cons_high_cutoff (\(high)), got \(low)") }
        consensusLowCutoff = low
        consensusHighCutoff = high
        if let width = number("bottleneck") { bottleneck = Int(width) }
        if let rate = number("lora_dropout") { loraDropout = rate }
        if let rate = number("drop_path_rate") {
            if config.kind == .pretrain { throw fail("drop_path_rate", "pretrain runs take no drop path") }
            dropPathRate = rate
        }
    }
}
