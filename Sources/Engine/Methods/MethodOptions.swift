/// How the backbone is adapted, as a run config selects it. Every method of METHODS.md is a
/// combination of these fields; `MethodOptions.faar`, `.mtlora`, ... give each paper's defaults.
public struct MethodOptions: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable {
        /// Backbone and decoders all train (the core's full fine-tuning).
        case full
        /// Frozen backbone, decoders only.
        case decoders
        /// One shared LoRA per adapted layer: single-task LoRA, or MTL-LoRA with several tasks.
        case lora
        /// MTLoRA: shared modules everywhere, task-specific ones on the last block of each stage.
        case mtlora
        /// TGLoRA: one module and one stream per task group, groups splitting stage by stage.
        case tglora
        /// FAAR: MTLoRA's layout with DoRA adapters, PDRS, and the TS-PD decoder.
        case faar
        /// Biases (and LayerNorms when "others" train) only.
        case bitfit
        /// Houlsby-style bottleneck adapters after attention and after the MLP.
        case adapter
    }

    /// How the low-rank update is scaled: LoRA's alpha / r, or MTLoRA's code's raw factor.
    public enum Scale: Sendable, Equatable {
        case alphaOverRank(alpha: Double)
        case raw(Double)

        public func factor(rank: Int) -> Double {
            switch self {
            case .alphaOverRank(let alpha): return alpha / Double(rank)
            case .raw(let scale): return scale
            }
        }
    }

    /// Which linear layers of a block carry adapters: TGLoRA's "attn", "attn + mlp" and "attn +
    /// mlp + others" (MTLoRA and FAAR adapt attn + mlp). The third is attn + mlp with the
    /// `othersTrain` switch on.
    public enum Locations: String, Sendable, CaseIterable {
        case attn
        case attnMLP = "attn_mlp"
        case attnMLPOthers = "attn_mlp_others"

        public var layers: [LinearSite] {
            switch self {
            case .attn: return [.qkv, .proj]
            case .attnMLP, .attnMLPOthers: return [.qkv, .proj, .fc1, .fc2]
            }
        }
    }

    public enum LinearSite: String, Sendable, CaseIterable { case qkv, proj, fc1, fc2 }

    public var method: Method
    public var adapter: LowRankKind
    public var scale: Scale
    /// Rank of shared modules (FAAR: r_init; TGLoRA: the combined rank r of a layer).
    public var rank: Int
    /// Rank of task-specific modules (MTLoRA's public configs and TGLoRA's last stage: 4; FAAR:
    /// r_init, as the shared modules).
    public var taskRank: Int
    public var locations: Locations
    /// Stages (1-based) whose last block has task-specific modules: MTLoRA's "TS-blocks".
    public var taskSpecificStages: [Int]
    /// Patch embedding, LayerNorms, relative position bias tables, patch merging train too.
    public var othersTrain: Bool
    /// MTLoRA+: LoRA on the patch-merging reductions.
    public var adaptPatchMerging: Bool
    /// TGLoRA: groups per stage, first to last.
    public var groupsPerStage: [Int]?
    /// TGLoRA: the task groups of each stage, first to last (from the similarity matrix).
    public var taskGroups: [TaskPartition]?
    /// PDRS (FAAR's rank shrinking); nil when off.
    public var rankShrinking: RankShrinking?
    /// FAAR's channel-wise spectral filter in front of each decoder input.
    public var spectralFilter: Bool
    /// FAAR's cross-task consensus inside the spectral filter.
    public var crossTaskConsensus: Bool
    /// XT-Cons bands: normalised radius at most `low` / above `high`.
    public var consensusLowCutoff = 0.25
    public var consensusHighCutoff = 0.5
    /// Bottleneck width of `adapter` (Houlsby) modules.
    public var bottleneck: Int
    /// LoRA dropout on every low-rank module's input (MTLoRA's configs and TGLoRA's
    /// supplementary: 0.05).
    public var loraDropout = 0.0
    /// Stochastic depth of the backbone's blocks, the last block's rate (MTLoRA's configs: 0.2).
    public var dropPathRate = 0.0

    public struct RankShrinking: Sendable, Equatable {
        public var rhoShared: Double
        public var rhoTask: Double
        public var decay: Double
        public var rescalesPrefix: Bool
        public var emaStart: RankShrinker.EMAStart

        public init(rhoShared: Double = 0.95, rhoTask: Double = 0.95, decay: Double = 0.9,
                    rescalesPrefix: Bool = false, emaStart: RankShrinker.EMAStart = .biasCorrected) {
            self.rhoShared = rhoShared
            self.rhoTask = rhoTask
            self.decay = decay
            self.rescalesPrefix = rescalesPrefix
            self.emaStart = emaStart
        }

        public func options(taskSpecific: Bool) -> RankShrinker.Options {
            RankShrinker.Options(decay: decay, coverage: taskSpecific ? rhoTask : rhoShared,
                                 rescalesPrefix: rescalesPrefix, emaStart: emaStart)
        }
    }

    public init(method: Method, adapter: LowRankKind = .lora, scale: Scale = .raw(4), rank: Int = 16,
                taskRank: Int = 4, locations: Locations = .attnMLP, taskSpecificStages: [Int] = [1, 2, 3, 4],
                othersTrain: Bool = true, adaptPatchMerging: Bool = false, groupsPerStage: [Int]? = nil,
                taskGroups: [TaskPartition]? = nil, rankShrinking: RankShrinking? = nil, spectralFilter: Bool = false,
                crossTaskConsensus: Bool = false, bottleneck: Int = 16) {
        self.method = method
        self.adapter = adapter
        self.scale = scale
        self.rank = rank
        self.taskRank = taskRank
        self.locations = locations
        self.taskSpecificStages = taskSpecificStages
        self.othersTrain = othersTrain
        self.adaptPatchMerging = adaptPatchMerging
        self.groupsPerStage = groupsPerStage
        self.taskGroups = taskGroups
        self.rankShrinking = rankShrinking
        self.spectralFilter = spectralFilter
        self.crossTaskConsensus = crossTaskConsensus
        self.bottleneck = bottleneck
    }

    /// The paper's defaults for `method`; a config's keys then override single fields.
    public static func defaults(for method: Method) -> MethodOptions {
        switch method {
        case .faar:
            // FAAR §4.4: "r_init defines the initial rank of all layers", task-specific ones too.
            var options = MethodOptions(method: .faar, adapter: .dora, rank: 32, taskRank: 32, rankShrinking: RankShrinking(),
                                        spectralFilter: true, crossTaskConsensus: true)
            // FAAR gives neither; it builds on MTLoRA's layout and batch size (32), so MTLoRA's.
            options.loraDropout = 0.05
            options.dropPathRate = 0.2
            return options
        case .tglora:
            // The paper's headline configuration adapts attn + mlp and trains the others. Its
            // supplementary: "a dropout rate of 0.05" for the LoRA modules, and MTLoRA's
            // hyperparameters otherwise ("We replicate the hyperparameters from Agiza et al."),
            // so MTLoRA's drop path.
            var options = MethodOptions(method: .tglora, rank: 16, locations: .attnMLPOthers, groupsPerStage: nil)
            options.loraDropout = 0.05
            options.dropPathRate = 0.2
            return options
        case .mtlora:
            // Every released MTLoRA config: MTLORA.DROPOUT 0.05, DROP_PATH_RATE 0.2.
            var options = MethodOptions(method: .mtlora)
            options.loraDropout = 0.05
            options.dropPathRate = 0.2
            return options
        default:
            return MethodOptions(method: method)
        }
    }

    /// True when the backbone carries low-rank modules.
    public var usesLowRankAdapters: Bool {
        [.lora, .mtlora, .tglora, .faar].contains(method)
    }

    /// True when the last block of a stage splits into task streams.
    public var hasTaskStreams: Bool { [.mtlora, .faar, .tglora].contains(method) }
}
