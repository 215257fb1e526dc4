import Crypto
import Foundation
import RunContract

/// A run's identity: a hash of its canonical resolved configuration plus the engine's identity.
///
/// Ids of the usual form, 16 lowercase hex digits, are kept as their 64-bit value: a String of
/// 16 bytes is one heap allocation per run (Swift keeps at most 15 bytes inline), and a plan of
/// 1,000,000 runs holds several copies of every id (the runs, their index, their dependencies).
/// Any other text (a test's `run-a`) is kept as it is, boxed so that an id takes 9 bytes (16 in
/// an array) rather than 17 (24). Equality, hashing and order are those of `rawValue`.
public struct RunID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    fileprivate final class Text: Sendable {
        let value: String
        init(_ value: String) { self.value = value }
    }
    fileprivate enum Storage: Sendable {
        case hex(UInt64)
        case text(Text)
    }
    fileprivate let storage: Storage

    public init(rawValue: String) {
        storage = Self.hexValue(rawValue).map(Storage.hex) ?? .text(Text(rawValue))
    }

    public static func == (a: RunID, b: RunID) -> Bool {
        switch (a.storage, b.storage) {
        case (.hex(let x), .hex(let y)): return x == y
        case (.text(let x), .text(let y)): return x.value == y.value
        default: return false // an id of 16 hex digits is always kept as .hex
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch storage {
        case .hex(let value): hasher.combine(value)
        case .text(let text): hasher.combine(text.value)
        }
    }

    /// 16 hex digits of SHA-256 over the canonical config and the engine identity.
    public init(config: JSONValue, engine: EngineSpec) {
        self.init(canonicalConfig: config.canonicalUTF8, runIdentity: engine.runIdentity)
    }

    /// The same from the config's canonical form (`JSONValue.canonicalUTF8`, or a
    /// `CanonicalObjectTemplate`'s) and `EngineSpec.runIdentity`.
    public init(canonicalConfig: [UInt8], runIdentity: String) {
        var text = canonicalConfig
        text.append(UInt8(ascii: "\n"))
        text += runIdentity.utf8
        storage = .hex(SHA256Hex.prefix64(text))
    }

    public var rawValue: String {
        switch storage {
        case .text(let text): return text.value
        case .hex(let value):
            return String(unsafeUninitializedCapacity: 16) { buffer in
                for index in 0..<16 {
                    let digit = UInt8((value >> (60 - 4 * UInt64(index))) & 15)
                    buffer[index] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                }
                return 16
            }
        }
    }

    /// The value of exactly 16 lowercase hex digits, or nil.
    private static func hexValue(_ text: String) -> UInt64? {
        guard text.utf8.count == 16 else { return nil }
        var value: UInt64 = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt64(byte - UInt8(ascii: "a") + 10)
            default: return nil
            }
        }
        return value
    }

    public var description: String { rawValue }
    public static func < (a: RunID, b: RunID) -> Bool {
        // Fixed-width lowercase hex sorts as its value.
        if case .hex(let x) = a.storage, case .hex(let y) = b.storage { return x < y }
        return a.rawValue < b.rawValue
    }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// SHA-256 in lowercase hex: run ids take its first 16 digits; the local executor's exit-status
/// file names the config an engine ran with by all 64.
public enum SHA256Hex {
    /// The first 8 bytes of the digest, big-endian: the value of its first 16 hex digits.
    public static func prefix64<Bytes: DataProtocol>(_ bytes: Bytes) -> UInt64 {
        SHA256.hash(data: bytes).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    public static func of<Bytes: DataProtocol>(_ bytes: Bytes) -> String {
        let hex = Array("0123456789abcdef".utf8)
        return String(decoding: SHA256.hash(data: bytes).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }, as: UTF8.self)
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
///
/// A compact record: the runs of one grid point usually differ only in their seed, so a run may
/// keep its config without the `seed` key (`init(id:group:label:seed:configWithoutSeed:...)`),
/// shared with its point's other seeds, and put the seed back when `config` is read. Equality and
/// hashing are those of the fields as read.
public struct PlannedRun: Hashable, Sendable {
    public var id: RunID
    /// Whether `stored` lacks the `seed` key (declared here, it fits in the id's padding).
    private var seedOmitted = false
    /// The manifest's run group this run came from ("pretrain", "single_task", "grid", ...).
    public var group: String
    /// The table row label this run belongs to, when the group declares rows.
    public var label: String?
    public var seed: Int
    /// The config as stored: without its `seed` key when `seedOmitted`.
    private var stored: JSONValue
    /// Dependencies by the name the config uses for them ("pretrain" -> its run).
    public var needs: [String: RunID]
    /// The grid-axis values that produced this run, for `sweep plan` and the reporter.
    public var axes: [String: JSONValue]
    /// The engine that runs it, by its name in the manifest's `engines:` (named by its group or a
    /// preset); nil for the manifest's `engine` (`Plan.engine(of:)`).
    public var engine: String?

    /// The fully resolved configuration. Dependencies appear as run ids (never as
    /// absolute paths), so ids do not depend on where the workspace lives.
    public var config: JSONValue {
        get {
            guard seedOmitted, case .object(var members) = stored else { return stored }
            members[ReservedConfigKey.seed] = .int(seed)
            return .object(members)
        }
        set {
            stored = newValue
            seedOmitted = false
        }
    }

    public init(id: RunID, group: String, label: String? = nil, seed: Int, config: JSONValue,
                needs: [String: RunID] = [:], axes: [String: JSONValue] = [:], engine: String? = nil) {
        self.id = id; self.group = group; self.label = label; self.seed = seed
        self.stored = config; self.needs = needs; self.axes = axes; self.engine = engine
    }

    /// A run whose config is `configWithoutSeed` (an object without a `seed` key) with
    /// `seed: <seed>` added.
    public init(id: RunID, group: String, label: String? = nil, seed: Int, configWithoutSeed: JSONValue,
                needs: [String: RunID] = [:], axes: [String: JSONValue] = [:], engine: String? = nil) {
        self.init(id: id, group: group, label: label, seed: seed, config: configWithoutSeed, needs: needs, axes: axes,
                  engine: engine)
        seedOmitted = true
    }

    public static func == (a: PlannedRun, b: PlannedRun) -> Bool {
        a.id == b.id && a.group == b.group && a.label == b.label && a.seed == b.seed && a.needs == b.needs
            && a.axes == b.axes && a.engine == b.engine && a.config == b.config
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(group)
        hasher.combine(seed)
    }
}

/// Where each run id first appears in a plan's runs. Ids of the usual form are kept in a table
/// of 64-bit keys and 32-bit positions (12 bytes a slot), others by their text: a 1,000,000-run
/// plan's index takes about 25 MB instead of the 67 MB of a `[RunID: Int]`.
public struct RunPositions: Sendable {
    private var hex: [UInt64: UInt32] = [:]
    private var text: [String: Int] = [:]

    public init(capacity: Int = 0) { hex.reserveCapacity(capacity) }

    public init(_ runs: [PlannedRun]) {
        self.init(capacity: runs.count)
        for (index, run) in runs.enumerated() { insertIfAbsent(run.id, at: index) }
    }

    public subscript(id: RunID) -> Int? {
        switch id.storage {
        case .hex(let value): return hex[value].map(Int.init)
        case .text(let name): return text[name.value]
        }
    }

    /// Records `position` for `id` unless it has one; returns the position it has now.
    @discardableResult
    public mutating func insertIfAbsent(_ id: RunID, at position: Int) -> Int {
        switch id.storage {
        case .hex(let value):
            if let known = hex[value] { return Int(known) }
            hex[value] = UInt32(position)
        case .text(let name):
            if let known = text[name.value] { return known }
            text[name.value] = position
        }
        return position
    }
}

/// The expanded manifest: a DAG of runs (dependencies before dependents) and the tables to write.
public struct Plan: Sendable {
    public var name: String
    public var manifest: URL?
    public var runs: [PlannedRun] { didSet { position = RunPositions(runs) } }
    public private(set) var position: RunPositions
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
        position = RunPositions(runs)
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
}
