import Crypto
import Foundation
import RunContract

/// A run's identity: a hash of its canonical resolved configuration plus the engine's identity.
public struct RunID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    /// 16 hex digits of SHA-256 over the canonical config and the engine identity.
    public init(config: JSONValue, engine: EngineSpec) {
        var text = config.canonicalUTF8
        text.append(UInt8(ascii: "\n"))
        text += engine.runIdentity.utf8
        let digest = SHA256.hash(data: text)
        let hex = Array("0123456789abcdef".utf8)
        rawValue = String(decoding: digest.prefix(8).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }, as: UTF8.self)
    }

    public var description: String { rawValue }
    public static func < (a: RunID, b: RunID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// How runs are started. `command` may contain `{config}` and `{out}`; when it is nil the
/// project's own `mtl-engine` (beside the `sweep` binary) is used.
public struct EngineSpec: Hashable, Sendable, Codable {
    public var command: [String]?
    /// Part of every run id: changing the engine changes the runs.
    public var identity: String
    /// What the manifest's `version` command printed (already part of `identity`), if it has one.
    public var version: String?
    /// The BLAS kernel set every run computes with (OPENBLAS_CORETYPE), or nil for the one the
    /// BLAS library picks for each machine. Pinned, a grid gives the same bits on any machine
    /// that can run those kernels; it is part of every run id, since other kernels give other bits.
    public var blasCore: String?
    /// How the engine checks configs before anything runs (docs/run-contract.md, "Checking
    /// configs"): a command run with `-` appended and the configs on standard input. Nil with `command`: the engine
    /// checks nothing beforehand. Our `mtl-engine` (no `command`) is `mtl-engine --validate-config`.
    public var validate: [String]?
    /// A manifest's own engine declares that its results do not depend on the thread count
    /// (`engine: {thread_independent: true}`); ours says so in `BundledEngine`.
    public var declaresThreadIndependence = false

    public init(command: [String]? = nil, identity: String = BundledEngine.identity, blasCore: String? = nil,
                validate: [String]? = nil) {
        self.command = command; self.identity = identity; self.blasCore = blasCore; self.validate = validate
    }

    /// Whether a run may be given more threads than the budget's (idle cores) without changing
    /// its results.
    public var resultsIndependentOfThreadCount: Bool {
        command == nil ? BundledEngine.resultsIndependentOfThreadCount : declaresThreadIndependence
    }

    /// What run ids hash besides the config: the identity, and the pinned core if there is one
    /// (so unpinned runs keep the ids they had before pinning existed).
    public var runIdentity: String { identity + (blasCore.map { " blas_core=\($0)" } ?? "") }

    /// Environment variables every run of this engine gets.
    public var environment: [String: String] {
        blasCore.map { [RunEnvironment.blasCore: $0, RunEnvironment.pinnedBLASCore: $0] } ?? [:]
    }
}

public struct ExecutorSettings: Hashable, Sendable {
    public enum Kind: String, Sendable, Hashable, CaseIterable { case local, slurm }
    public var kind: Kind
    /// Concurrent runs (local); nil = derived from cores and threads.
    public var slots: Int?
    /// Threads per run; nil = derived so that slots x threads <= cores.
    public var threadsPerRun: Int?
    public var timeoutSeconds: Double?
    /// Extra attempts after a failure.
    public var retries: Int
    /// How runs are submitted when `kind` is slurm (the manifest's partition, time, ... keys).
    public var slurm: SlurmSettings

    public init(kind: Kind = .local, slots: Int? = nil, threadsPerRun: Int? = nil,
                timeoutSeconds: Double? = nil, retries: Int = 1, slurm: SlurmSettings = SlurmSettings()) {
        self.kind = kind; self.slots = slots; self.threadsPerRun = threadsPerRun
        self.timeoutSeconds = timeoutSeconds; self.retries = retries; self.slurm = slurm
    }
}

/// sbatch options of the Slurm executor. Nil leaves the option to the cluster's defaults.
public struct SlurmSettings: Hashable, Sendable {
    /// `--partition`.
    public var partition: String?
    /// `--time`, in one of Slurm's formats ("90" minutes, "02:00:00", "1-12:00:00").
    public var time: String?
    /// `--cpus-per-task`; also each run's thread budget (MTL_THREADS, OPENBLAS_NUM_THREADS).
    public var cpusPerTask: Int?
    /// `--mem`, e.g. "4G" or "4000M".
    public var memory: String?
    /// The `%N` of `--array`: array tasks of one submission running at once.
    public var maxConcurrent: Int?
    /// Further sbatch arguments, passed as given (`[--account=lab, --qos=short]`).
    public var sbatchArguments: [String]
    /// Runs one array task runs one after the other; nil = derived from the runs' expected time.
    public var runsPerTask: Int?

    public init(partition: String? = nil, time: String? = nil, cpusPerTask: Int? = nil, memory: String? = nil,
                maxConcurrent: Int? = nil, sbatchArguments: [String] = [], runsPerTask: Int? = nil) {
        self.partition = partition; self.time = time; self.cpusPerTask = cpusPerTask; self.memory = memory
        self.maxConcurrent = maxConcurrent; self.sbatchArguments = sbatchArguments; self.runsPerTask = runsPerTask
    }
}

/// Config keys a manifest sets on every run itself (docs/manifest.md): the seed, the profile
/// (`--profile`), and the dependencies' run references.
public enum ReservedConfigKey {
    public static let seed = "seed"
    public static let profile = "profile"
    public static let needs = "needs"
}

/// One run of the expanded grid.
public struct PlannedRun: Hashable, Sendable {
    public var id: RunID
    /// The manifest's run group this run came from ("pretrain", "single_task", "grid", ...).
    public var group: String
    /// The table row label this run belongs to, when the group declares rows.
    public var label: String?
    public var seed: Int
    /// The fully resolved configuration. Dependencies appear as run ids (never as
    /// absolute paths), so ids do not depend on where the workspace lives.
    public var config: JSONValue
    /// Dependencies by the name the config uses for them ("pretrain" -> its run).
    public var needs: [String: RunID]
    /// The grid-axis values that produced this run, for `sweep plan` and the reporter.
    public var axes: [String: JSONValue]
    /// The engine that runs it, by its name in the manifest's `engines:` (named by its group or a
    /// preset); nil for the manifest's `engine` (`Plan.engine(of:)`).
    public var engine: String?

    public init(id: RunID, group: String, label: String? = nil, seed: Int, config: JSONValue,
                needs: [String: RunID] = [:], axes: [String: JSONValue] = [:], engine: String? = nil) {
        self.id = id; self.group = group; self.label = label; self.seed = seed
        self.config = config; self.needs = needs; self.axes = axes; self.engine = engine
    }
}

/// The expanded manifest: a DAG of runs (dependencies before dependents) and the tables to write.
public struct Plan: Sendable {
    public var name: String
    public var manifest: URL?
    public var runs: [PlannedRun] { didSet { position = Self.positions(runs) } }
    public private(set) var position: [RunID: Int]
    /// The engine of runs that name none.
    public var engine: EngineSpec
    /// The engines runs name (`PlannedRun.engine`), by name.
    public var engines: [String: EngineSpec] = [:]
    public var executor: ExecutorSettings
    public var tables: [TableSpec]
    /// What the user should know but that does not stop the plan (a table row an override emptied).
    public var warnings: [String] = []

    public init(name: String, manifest: URL? = nil, runs: [PlannedRun], engine: EngineSpec = EngineSpec(),
                executor: ExecutorSettings = ExecutorSettings(), tables: [TableSpec] = []) {
        self.name = name; self.manifest = manifest; self.runs = runs; self.engine = engine
        self.executor = executor; self.tables = tables
        position = Self.positions(runs)
    }

    public func run(_ id: RunID) -> PlannedRun? { position[id].map { runs[$0] } }

    /// The engine that runs `run`.
    public func engine(of run: PlannedRun) -> EngineSpec { engine(named: run.engine) }

    /// The engine `engines:` names `name`, or the manifest's `engine` for nil.
    public func engine(named name: String?) -> EngineSpec { name.flatMap { engines[$0] } ?? engine }

    /// Every engine the plan's runs use: nil (the manifest's `engine`) first if any run uses it,
    /// then the named ones in name order.
    public var enginesInUse: [String?] {
        let named = Set(runs.compactMap(\.engine))
        return (runs.contains { $0.engine == nil } ? [nil] : []) + named.sorted().map { Optional($0) }
    }

    private static func positions(_ runs: [PlannedRun]) -> [RunID: Int] {
        Dictionary(runs.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
