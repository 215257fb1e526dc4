// The run contract between `sweep` and any engine (docs/run-contract.md).
//
// Both sides compile against these types, so the files an engine writes and the
// files the orchestrator reads cannot drift apart. An engine written in another
// language only has to produce the same JSON.
import Foundation

/// The engine this package builds, `mtl-engine`. Its identity is part of the id of every run
/// that uses it (the manifests' default engine), so a version whose results differ gets new runs
/// instead of the old ones' results: bump the version with any change to what runs compute.
public enum BundledEngine {
    public static let version = "0.5.0"
    public static var identity: String { "mtl-engine \(version)" }

    /// The names of the config keys `mtl-engine` reads (its `ConfigSchema`; a test keeps the two
    /// equal). A manifest for this engine may override any of them without `+`.
    public static let configKeys: Set<String> = [
        "kind", "profile", "seed", "dataset", "data_root", "tasks", "task", "pretrain_set", "pretrained",
        "backbone_weights", "backbone", "embed_dim", "depths", "heads", "window", "image_size", "decoder",
        "decoder_channels", "decoder_width", "aspp_rates", "epochs", "batch_size", "train_images", "val_images",
        "lr", "min_lr", "weight_decay", "warmup_epochs", "clip_grad", "decoder_lr_scale", "loss_weights", "needs",
        "progress_every",
        "method", "adapter", "lora_scale_convention", "lora_scale", "lora_alpha", "rank", "task_rank",
        "adapter_locations", "others_trainable", "adapt_patch_merging", "task_specific_stages", "groups_per_stage",
        "task_similarity", "task_groups", "swap_tasks", "similarity_examples", "pdrs", "rho_shared", "rho_task",
        "pdrs_ema_decay", "pdrs_ema_start", "pdrs_prefix_rescale", "ts_pd", "xt_cons", "xt_cons_low_cutoff",
        "xt_cons_high_cutoff", "bottleneck", "lora_dropout", "drop_path_rate",
    ]

    /// The values of its config key `profile`: the engine's scales (its `Profile`). A manifest
    /// profile of one of these names sets the scale; other names are the manifest's own.
    public static let scales = ["smoke", "default", "paper"]

    /// The tasks of each data set it knows (its `DatasetName.tasks`); config key `dataset`
    /// defaults to pascal. A table column of a task none of its runs has is a mistake.
    public static let datasetTasks = [
        "pascal": ["semseg", "human_parts", "saliency", "normals"],
        "nyud": ["semseg", "depth", "normals"],
    ]
    public static let defaultDataset = "pascal"

    /// A run gives the same bits at every thread count on every CPU (engine 0.5.0; docs/engine.md,
    /// "What is reproducible"), so the executor may give a run that starts alone the idle cores.
    public static let resultsIndependentOfThreadCount = true
}

/// File names inside a run directory.
public enum RunFiles {
    public static let config = "config.json"
    public static let progress = "progress.jsonl"
    public static let metrics = "metrics.json"
    public static let stdout = "stdout.log"
    public static let stderr = "stderr.log"
    /// Written by a batch task (Slurm) when the engine exits: its exit code as text.
    public static let exitStatus = "exit-status"
}

/// How an engine exits (any other non-zero status is a failure too).
public enum RunExit {
    public static let success: Int32 = 0
    /// Bad input: the config (or a file it names) is wrong. Running it again gives the same
    /// answer, so the executor does not retry it within one `sweep run`.
    public static let badInput: Int32 = 2
}

/// Checking configs before anything runs: `ENGINE --validate-config FILE...` reads each file as
/// a run's config.json, prints one `ConfigVerdict` per config as a JSON line on stdout, in the
/// order given, and exits 0 when every config is valid, `RunExit.badInput` when some is not
/// (any other status: the check itself failed). It trains nothing and writes no file. The FILE
/// `-` is standard input holding one config per line (JSON Lines), named `-:LINE` in the
/// verdicts; `sweep` sends a plan's configs that way.
public enum ConfigValidation {
    public static let flag = "--validate-config"
    public static let standardInput = "-"
    /// Configs being checked name their dependencies' run directories as `run://<id>[/path]`:
    /// those runs have not run yet, so a path given this way is taken as one that will exist.
    public static let dependencyScheme = "run://"
}

/// One line of `--validate-config`'s output.
public struct ConfigVerdict: Codable, Sendable, Equatable {
    /// The file as given on the command line.
    public var file: String
    public var valid: Bool
    /// The offending key, when one is to blame.
    public var key: String?
    /// What is wrong and what was expected (absent when valid).
    public var message: String?

    public init(file: String, valid: Bool, key: String? = nil, message: String? = nil) {
        self.file = file; self.valid = valid; self.key = key; self.message = message
    }
}

/// Environment variables the executor sets for each run.
public enum RunEnvironment {
    /// The run's thread budget; the engine sizes its own pools and OpenBLAS from it.
    public static let threads = "MTL_THREADS"
    public static let openBLASThreads = "OPENBLAS_NUM_THREADS"
    /// The BLAS kernel set a manifest pins (`engine: {blas_core: Haswell}`), so that a grid gives
    /// the same bits on every machine that can run those kernels. OpenBLAS reads it when it loads.
    public static let blasCore = "OPENBLAS_CORETYPE"
    /// The same core, for the engine to check that OpenBLAS loaded it: OpenBLAS falls back to
    /// another core, with a line on stderr, when this CPU cannot run the one asked for. (A separate
    /// variable, since some machines set OPENBLAS_CORETYPE themselves.)
    public static let pinnedBLASCore = "MTL_BLAS_CORE"
}

/// One line of `progress.jsonl`, appended by the engine as training advances.
public struct ProgressEvent: Codable, Sendable, Equatable {
    public var epoch: Int
    public var epochs: Int
    public var step: Int
    public var steps: Int
    public var loss: Double
    /// Seconds since the run (this attempt) started.
    public var elapsed: Double
    /// Current rank of every adapter, by adapter name (FAAR's rank shrinking).
    public var ranks: [String: Int]?
    /// Free-form phase name ("train", "eval", "similarity", ...).
    public var phase: String?
    /// On an epoch's last line: forward GMACs for one image at the ranks the epoch ended with.
    public var gmacs: Double?
    /// On an epoch's last line, from an engine that evaluates during training: each task's
    /// headline metric (as in `metrics.json`, by task name). `mtl-engine` evaluates once, at the
    /// end, and leaves it out.
    public var metrics: [String: Double]?

    public init(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Double, elapsed: Double,
                ranks: [String: Int]? = nil, phase: String? = nil, gmacs: Double? = nil,
                metrics: [String: Double]? = nil) {
        self.epoch = epoch; self.epochs = epochs; self.step = step; self.steps = steps
        self.loss = loss; self.elapsed = elapsed; self.ranks = ranks; self.phase = phase; self.gmacs = gmacs
        self.metrics = metrics
    }
}

public enum Direction: String, Codable, Sendable, Hashable {
    case higher, lower

    public var arrow: String { self == .higher ? "↑" : "↓" }
}

/// A task's headline metric, in the papers' units (mIoU in %, angles in degrees, RMSE in metres).
public struct TaskMetric: Codable, Sendable, Equatable {
    public var name: String
    public var value: Double
    public var direction: Direction

    public init(name: String, value: Double, direction: Direction) {
        self.name = name; self.value = value; self.direction = direction
    }
}

/// Parameter counts with MTLoRA's convention for "trainable".
public struct ParameterCounts: Codable, Sendable, Equatable {
    public var trainable: Int
    public var total: Int
    public var decoder: Int
    public var backbone: Int

    public init(trainable: Int, total: Int, decoder: Int, backbone: Int) {
        self.trainable = trainable; self.total = total; self.decoder = decoder; self.backbone = backbone
    }
}

/// `metrics.json`, written atomically by the engine when a run succeeds.
public struct RunMetrics: Codable, Sendable, Equatable {
    public var engineVersion: String
    /// Headline metric per task, keyed by task name ("semseg", "human_parts", ...).
    public var tasks: [String: TaskMetric]
    public var parameters: ParameterCounts
    /// Forward multiply-accumulates for one image, in G.
    public var gmacs: Double
    /// Wall time of each epoch, in seconds.
    public var epochSeconds: [Double]
    /// Rank of every adapter at the end of each epoch, by adapter name.
    public var ranks: [String: [Int]]?
    /// Forward GMACs for one image at the end of each epoch (at the ranks of `ranks`): FAAR's
    /// cost falling as PDRS shrinks the adapters. Absent from engines that do not record it.
    public var epochGMACs: [Double]?
    /// Files this run produced for its dependents, as paths relative to the run directory.
    public var artifacts: [String: String]
    /// Any other scalar results (pretraining accuracy, GMACs per epoch, ...).
    public var extra: [String: Double]
    /// The numerical libraries that computed the run. Absent from engines that do not say.
    public var numerics: Numerics?

    public init(engineVersion: String, tasks: [String: TaskMetric], parameters: ParameterCounts,
                gmacs: Double, epochSeconds: [Double], ranks: [String: [Int]]? = nil,
                epochGMACs: [Double]? = nil, artifacts: [String: String] = [:], extra: [String: Double] = [:],
                numerics: Numerics? = nil) {
        self.engineVersion = engineVersion; self.tasks = tasks; self.parameters = parameters
        self.gmacs = gmacs; self.epochSeconds = epochSeconds; self.ranks = ranks; self.epochGMACs = epochGMACs
        self.artifacts = artifacts; self.extra = extra; self.numerics = numerics
    }

    enum CodingKeys: String, CodingKey {
        case engineVersion = "engine_version", tasks, parameters, gmacs
        case epochSeconds = "epoch_seconds", ranks, epochGMACs = "epoch_gmacs", artifacts, extra, numerics
    }
}

/// What computed a run's numbers. Other BLAS kernels give other last bits, which training
/// amplifies: two runs of one config agree bit for bit only on the same `blasCore` (and the same
/// library builds).
public struct Numerics: Codable, Sendable, Equatable {
    /// The BLAS library's own description of its build (OpenBLAS's `openblas_get_config`).
    public var blas: String
    /// The kernel set the BLAS library chose for this CPU, or was pinned to
    /// (`openblas_get_corename`: "Haswell", "Cooperlake", ...).
    public var blasCore: String
    /// The FFT library's version string.
    public var fft: String?
    /// Threads the run computed on (the bits do not depend on it).
    public var threads: Int?

    public init(blas: String, blasCore: String, fft: String? = nil, threads: Int? = nil) {
        self.blas = blas; self.blasCore = blasCore; self.fft = fft; self.threads = threads
    }

    enum CodingKeys: String, CodingKey { case blas, blasCore = "blas_core", fft, threads }

    /// One line for people: "OpenBLAS 0.3.21 … (core Cooperlake), FFTW 3.3.10, 2 threads".
    public var summary: String {
        var line = "\(blas) (core \(blasCore))"
        if let fft { line += ", \(fft)" }
        if let threads { line += ", \(threads) thread\(threads == 1 ? "" : "s")" }
        return line
    }
}

public enum ContractJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Writes `data` to `url` through a temporary file and a rename, so a reader never
    /// sees half a file.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        try data.write(to: temporary)
        if rename(temporary.path, url.path) != 0 {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [
                NSFilePathErrorKey: url.path,
                NSUnderlyingErrorKey: POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO),
            ])
        }
    }

    /// Reads every complete line of a `progress.jsonl`; a torn last line is ignored.
    public static func readProgress(at url: URL) -> [ProgressEvent] {
        guard let data = try? Data(contentsOf: url) else { return [] }
        let decoder = JSONDecoder()
        return data.split(separator: UInt8(ascii: "\n")).compactMap {
            try? decoder.decode(ProgressEvent.self, from: Data($0))
        }
    }
}
