import Foundation
import RunContract
import SweepCore

/// The manifest after validation, before expansion: every name checked, every value typed.
struct ManifestDocument {
    static let topLevelKeys = ["name", "description", "include", "engine", "engines", "executor", "defaults", "presets",
                               "conditionals", "seeds", "groups", "tables", "profiles"]

    var name: String
    /// The engine of runs whose group and presets name none (`engine:`, default our mtl-engine).
    var engine: EngineSpec
    /// The engines groups and presets may name (`engines:`), by name.
    var engines: [String: EngineSpec]
    var executor: ExecutorSettings
    var defaults: [Assignment]
    /// Each preset flattened (presets it builds on first).
    var presets: [String: [Assignment]]
    /// The engine each preset names, its own or the last one its bases name.
    var presetEngines: [String: String]
    var conditionals: [Conditional]
    var groups: [GroupDefinition]
    var tables: ManifestNode?
    /// The whole manifest (after includes and overrides), to point errors at values found late.
    var root: ManifestNode
    /// Every config key (and its parents) the manifest sets somewhere; overrides must name one.
    var knownConfigKeys: Set<String>
    /// The kinds of value (number, string, list, ...) the manifest gives each config key, so an
    /// override of another kind (`rank=[4,8]` where ranks are numbers) is caught with a hint.
    var configValueKinds: [String: Set<ValueKind>] = [:]

    /// Whether some group may run on our `mtl-engine`: the manifest's engine is it, or a named one is.
    var usesBundledEngine: Bool {
        engine.command == nil || engines.values.contains { $0.command == nil }
    }
}

/// A JSON value's kind, for the checks of overrides against the manifest's own values.
enum ValueKind: String, Hashable, Sendable {
    case null, boolean, number, string, list, mapping

    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool: self = .boolean
        case .int, .double: self = .number
        case .string: self = .string
        case .array: self = .list
        case .object: self = .mapping
        }
    }
}

struct Conditional {
    var when: ConfigPattern
    var set: [Assignment]
}

/// One entry of rows / include, or one combination of grid or zip values.
struct Point {
    var label: String?
    var presets: [String] = []
    var assignments: [Assignment] = []
    /// Axis values (grid and zip) by axis key, for `PlannedRun.axes`.
    var axes: [(String, JSONValue)] = []
    /// Values of command-line sweeps (`rank=4,8`): applied with the overrides, so they win too.
    var overrides: [Assignment] = []

    /// `self` then `other`: presets in order, values in order (later wins).
    func combined(with other: Point) -> Point {
        Point(label: label ?? other.label, presets: presets + other.presets,
              assignments: assignments + other.assignments, axes: axes + other.axes,
              overrides: overrides + other.overrides)
    }
}

struct Axis {
    var key: String
    /// Values to assign, or preset names when `key == "preset"`.
    var values: [JSONValue]
    var node: ManifestNode

    var isPreset: Bool { key == GroupDefinition.presetAxis }

    func point(_ index: Int) -> Point {
        let value = values[index]
        if isPreset { return Point(label: nil, presets: [value.stringValue ?? value.canonical], axes: [(key, value)]) }
        let origin = node.items.flatMap { index < $0.count ? $0[index].location.description : nil }
        return Point(label: nil, assignments: [Assignment(path: key.split(separator: ".").map(String.init), value: value,
                                                          origin: origin)],
                     axes: [(key, value)])
    }
}

struct NeedDefinition {
    var name: String
    var group: String
    /// Keys whose values must equal the dependent run's.
    var match: [[String]]
    /// Fixed requirements on the dependency's config.
    var filter: ConfigPattern
    var node: ManifestNode
}

struct GroupDefinition {
    static let keys = ["description", "set", "grid", "zip", "rows", "include", "exclude", "conditionals", "seeds", "needs",
                       "engine"]
    /// A grid axis or zip column named `preset` applies presets by name.
    static let presetAxis = "preset"

    var name: String
    var node: ManifestNode
    /// The engine its runs use (a name from `engines:`) unless a preset names another; nil: the manifest's `engine`.
    var engine: String? = nil
    var set: [Assignment]
    var rows: [Point]?
    var axes: [Axis]
    /// Each block: columns of equal length, taken together index by index.
    var zips: [[Axis]]
    var includes: [Point]
    var excludes: [ConfigPattern]
    var conditionals: [Conditional]
    var seeds: [Int]
    var needs: [NeedDefinition]
    /// Runs before `exclude` drops any and before identical runs merge (Int.max past it:
    /// a manifest of a few lines can multiply to more than 64 bits hold).
    var runCountBeforeExclusion: Int {
        let factors = [rows?.count ?? 1] + axes.map(\.values.count) + zips.map { $0[0].values.count }
        let points = factors.reduce(1) { $0.multipliedSaturating(by: $1) }.addingSaturating(includes.count)
        return points.multipliedSaturating(by: seeds.count)
    }

    /// How the count is made, for the message when it is too large: "2 rows x 10 x 10 points + 1 included, x 3 seeds".
    var runCountFormula: String {
        var factors: [String] = []
        if let rows { factors.append("\(rows.count) row\(rows.count == 1 ? "" : "s")") }
        factors += axes.map { "\($0.values.count) \($0.key)" }
        factors += zips.map { "\($0[0].values.count) zipped" }
        var text = factors.isEmpty ? "1 point" : factors.joined(separator: " x ")
        if !includes.isEmpty { text += " + \(includes.count) included" }
        return text + ", x \(seeds.count) seed\(seeds.count == 1 ? "" : "s")"
    }

    /// Labels of rows and include entries, in order.
    var labels: [String] {
        (rows ?? []).compactMap(\.label) + includes.compactMap(\.label)
    }
}

// MARK: - Reading

extension ManifestDocument {
    init(root: ManifestNode, manifestFile: URL, limits: ManifestLimits = ManifestLimits()) throws(ManifestError) {
        try root.checkKeys(Self.topLevelKeys, in: "the manifest")
        var known = Set<String>()

        if let nameNode = root["name"] {
            name = try nameNode.string(expected: "the sweep's name (a string)")
            try PathName.check(name, what: "sweep name", at: nameNode.location, keyPath: nameNode.path)
        } else {
            name = manifestFile.deletingPathExtension().lastPathComponent
            try PathName.check(name, what: "the sweep's name (from the file name, as no `name:` is given)",
                               at: root.location, keyPath: "name")
        }
        let manifestDirectory = manifestFile.deletingLastPathComponent()
        engine = try root["engine"].map { node throws(ManifestError) in
            try Self.readEngine(node, manifestDirectory: manifestDirectory)
        } ?? EngineSpec()
        var engines: [String: EngineSpec] = [:]
        for entry in try root["engines"]?.mapping(expected: "a mapping of engine name -> {command: [...], version: [...]}") ?? [] {
            engines[entry.key] = try Self.readEngine(entry.value, manifestDirectory: manifestDirectory,
                                                     what: "engines.\(entry.key)")
        }
        self.engines = engines
        executor = try root["executor"].map(Self.readExecutor) ?? ExecutorSettings()
        defaults = try root["defaults"].map { node throws(ManifestError) in try Self.readLayer(node, known: &known) } ?? []

        (presets, presetEngines) = try Self.readPresets(root["presets"], engines: engines, known: &known)
        conditionals = try Self.readConditionals(root["conditionals"], known: &known)
        let seeds = try root["seeds"].map { node throws(ManifestError) in try Self.readSeeds(node, limits: limits) } ?? [0]

        guard let groupsNode = root["groups"] else {
            throw root.error("the manifest declares no run groups", expected: "a `groups:` mapping of group name -> grid")
        }
        var groups: [GroupDefinition] = []
        for entry in try groupsNode.mapping(expected: "a mapping of group name -> group") {
            groups.append(try Self.readGroup(entry, presets: presets, engines: engines, seeds: seeds, limits: limits,
                                             known: &known))
        }
        if groups.isEmpty { throw groupsNode.error("no run groups", expected: "at least one group") }
        let groupNames = groups.map(\.name)
        for group in groups {
            for need in group.needs where !groupNames.contains(need.group) || need.group == group.name {
                let target = need.node["group"] ?? need.node
                if need.group == group.name {
                    throw target.error("group '\(group.name)' needs itself", expected: "another group's name")
                }
                throw target.error("needs unknown group '\(need.group)'",
                                   expected: "one of the groups: " + groupNames.joined(separator: ", "),
                                   suggestion: Spelling.closest(to: need.group, among: groupNames))
            }
        }
        self.groups = groups
        tables = root["tables"]
        knownConfigKeys = known
        self.root = root
        configValueKinds = Self.valueKinds(defaults: defaults, presets: presets, conditionals: conditionals, groups: groups)
    }

    /// Every value each config key takes somewhere in the manifest, by kind.
    static func valueKinds(defaults: [Assignment], presets: [String: [Assignment]], conditionals: [Conditional],
                           groups: [GroupDefinition]) -> [String: Set<ValueKind>] {
        var kinds: [String: Set<ValueKind>] = [:]
        func note(_ assignments: [Assignment]) {
            for assignment in assignments { kinds[assignment.key, default: []].insert(ValueKind(assignment.value)) }
        }
        note(defaults)
        for layer in presets.values { note(layer) }
        for group in groups {
            note(group.set)
            for point in (group.rows ?? []) + group.includes { note(point.assignments) }
            for axis in group.axes + group.zips.flatMap({ $0 }) where !axis.isPreset {
                for value in axis.values { kinds[axis.key, default: []].insert(ValueKind(value)) }
            }
            for rule in group.conditionals { note(rule.set) }
        }
        for rule in conditionals { note(rule.set) }
        return kinds
    }

    // MARK: engine and executor

    /// An engine: `engine:`, or an entry of `engines:` (`what`). Its `version` command runs here,
    /// in the manifest's folder, since what it prints is part of the identity and so of run ids.
    static func readEngine(_ node: ManifestNode, manifestDirectory: URL, what: String = "engine") throws(ManifestError) -> EngineSpec {
        if node.isNull, what != "engine" { return EngineSpec() }
        try node.checkKeys(["command", "identity", "version", "blas_core", "validate", "thread_independent"], in: what)
        var spec = EngineSpec()
        if let commandNode = node["command"] {
            let command = try commandNode.strings(expected: "the engine command as a list of strings")
            if command.isEmpty || command[0].isEmpty { throw commandNode.error("empty engine command", expected: "[program, arguments...]") }
            spec.command = command
            // A different command is a different engine unless the manifest names its identity.
            spec.identity = command.joined(separator: " ")
        }
        if let versionNode = node["version"] {
            let command = try versionNode.strings(expected: "a command that prints the engine's version, as a list of strings")
            if command.isEmpty || command[0].isEmpty { throw versionNode.error("empty version command", expected: "[program, arguments...]") }
            guard spec.command != nil else {
                throw versionNode.error("`version` without `command`: our mtl-engine's version is part of its identity already",
                                        expected: "command: [...] beside version: [...]")
            }
            spec.version = try EngineVersion.query(command, at: versionNode, manifestDirectory: manifestDirectory)
            spec.identity += " " + spec.version!
        }
        if let identity = node["identity"] {
            spec.identity = try identity.string(expected: "the engine's identity (a string that changes when results would)")
            if spec.identity.isEmpty { throw identity.error("empty engine identity", expected: "a non-empty string") }
        }
        if let independent = node["thread_independent"] {
            spec.declaresThreadIndependence = try independent.bool(
                expected: "true when the engine's results are the same at every thread count (then a run alone may get idle cores)")
        }
        if let validate = node["validate"] {
            let command = try validate.strings(expected: "the engine's config check as a list of strings (config files are appended)")
            if command.isEmpty || command[0].isEmpty { throw validate.error("empty validate command", expected: "[program, arguments...]") }
            spec.validate = command
        }
        if let core = node["blas_core"] {
            let name = try core.string(expected: "an OpenBLAS core type (Haswell, Zen, SkylakeX, Cooperlake, Prescott, ...)")
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                throw core.error("bad blas_core \"\(name)\"", expected: "an OpenBLAS core type such as Haswell (letters and digits)")
            }
            spec.blasCore = name
        }
        return spec
    }

    static func readExecutor(_ node: ManifestNode) throws(ManifestError) -> ExecutorSettings {
        try node.checkKeys(["kind", "slots", "threads", "timeout", "retries", "partition", "time", "cpus_per_task", "mem",
                            "max_concurrent", "sbatch_args", "runs_per_task"], in: "executor")
        var settings = ExecutorSettings()
        if let kindNode = node["kind"] {
            let kind = try kindNode.string(expected: "local or slurm")
            let kinds = ExecutorSettings.Kind.allCases.map(\.rawValue)
            guard let parsed = ExecutorSettings.Kind(rawValue: kind) else {
                throw kindNode.error("unknown executor kind '\(kind)'", expected: kinds.joined(separator: " or "),
                                     suggestion: Spelling.closest(to: kind, among: kinds))
            }
            settings.kind = parsed
        }
        settings.slots = try node["slots"]?.int(expected: "a number of concurrent runs (>= 1)", minimum: 1)
        settings.threadsPerRun = try node["threads"]?.int(expected: "threads per run (>= 1)", minimum: 1)
        settings.retries = try node["retries"]?.int(expected: "extra attempts after a failure (>= 0)", minimum: 0) ?? settings.retries
        if let timeout = node["timeout"] { settings.timeoutSeconds = try readDuration(timeout) }
        settings.slurm = try readSlurm(node)
        return settings
    }

    /// The Slurm executor's keys of `executor:`.
    static func readSlurm(_ node: ManifestNode) throws(ManifestError) -> SlurmSettings {
        var slurm = SlurmSettings()
        if let partition = node["partition"] {
            slurm.partition = try partition.string(expected: "a Slurm partition name")
        }
        if let time = node["time"] {
            let expected = "a Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
            let text = try time.string(expected: expected)
            guard text.wholeMatch(of: /(\d+-)?\d+(:\d+){0,2}|UNLIMITED|INFINITE/) != nil else {
                throw time.error("'\(text)' is not a Slurm time limit", expected: expected)
            }
            slurm.time = text
        }
        slurm.cpusPerTask = try node["cpus_per_task"]?.int(expected: "CPUs per array task (>= 1)", minimum: 1)
        if let memory = node["mem"] {
            let expected = "memory per node as sbatch --mem takes it: 4G, 4000M, 4000 (MB)"
            let text = try memory.string(expected: expected)
            guard text.wholeMatch(of: /\d+[KMGT]?/) != nil else {
                throw memory.error("'\(text)' is not an amount of memory", expected: expected)
            }
            slurm.memory = text
        }
        slurm.maxConcurrent = try node["max_concurrent"]?.int(expected: "array tasks running at once (>= 1)", minimum: 1)
        slurm.runsPerTask = try node["runs_per_task"]?.int(expected: "runs one array task runs in turn (>= 1)", minimum: 1)
        if let arguments = node["sbatch_args"] {
            slurm.sbatchArguments = try arguments.strings(expected: "a list of sbatch arguments, e.g. [--account=lab]")
            if let bad = slurm.sbatchArguments.first(where: { !$0.hasPrefix("-") }) {
                throw arguments.error("'\(bad)' is not an sbatch option", expected: "options starting with -, e.g. --qos=short")
            }
        }
        return slurm
    }

    /// Seconds, or a string such as "90s", "30m", "2h", "1h30m", "1d".
    static func readDuration(_ node: ManifestNode) throws(ManifestError) -> Double {
        let expected = "a duration: seconds, or a string like 90s, 30m, 2h, 1h30m"
        switch node.scalar {
        case .int(let seconds)? where seconds > 0: return Double(seconds)
        case .double(let seconds)? where seconds > 0: return seconds
        case .string(let text)?:
            var total = 0.0, number = ""
            for character in text where character != " " {
                if character.isNumber || character == "." { number.append(character); continue }
                let unit: Double
                switch character {
                case "s": unit = 1
                case "m": unit = 60
                case "h": unit = 3600
                case "d": unit = 86400
                default: throw node.error("unknown duration unit '\(character)' in '\(text)'", expected: expected)
                }
                guard let value = Double(number) else { throw node.error("malformed duration '\(text)'", expected: expected) }
                total += value * unit
                number = ""
            }
            if !number.isEmpty { throw node.error("duration '\(text)' ends without a unit", expected: expected) }
            if !(total > 0) || !total.isFinite { throw node.error("duration '\(text)' is not a positive finite time", expected: expected) }
            return total
        default:
            throw node.typeError(expected: expected)
        }
    }

    // MARK: configuration layers

    /// A mapping of config keys (dotted keys allowed) to values.
    static func readLayer(_ node: ManifestNode, skipping structural: [String] = [],
                          known: inout Set<String>) throws(ManifestError) -> [Assignment] {
        var assignments: [Assignment] = []
        for entry in try node.mapping(expected: "a mapping of config key -> value") where !structural.contains(entry.key) {
            assignments.append(Assignment(path: try readKey(entry, in: node), value: entry.value.json,
                                          origin: entry.keyLocation.description))
            known.formUnion(configKeys(entry.key, value: entry.value.json))
        }
        return assignments
    }

    static func readKey(_ entry: ManifestNode.Entry, in parent: ManifestNode) throws(ManifestError) -> [String] {
        let path = entry.key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let location = entry.keyLocation
        if path.contains(where: \.isEmpty) {
            throw ManifestError(file: location.file, line: location.line, column: location.column,
                                keyPath: parent.childPath(entry.key), problem: "malformed config key '\(entry.key)'",
                                expected: "names separated by single dots, e.g. optimizer.lr")
        }
        if ReservedKey.all.contains(path[0]) {
            throw ManifestError(file: location.file, line: location.line, column: location.column,
                                keyPath: parent.childPath(entry.key), problem: "config key '\(path[0])' is set by the manifest itself",
                                expected: ReservedKey.explanation[path[0]])
        }
        return path
    }

    /// `key` and, for mapping values, every nested key below it (dotted).
    static func configKeys(_ key: String, value: JSONValue) -> [String] {
        var keys = [key]
        var prefix = ""
        for part in key.split(separator: ".").dropLast() {
            prefix += prefix.isEmpty ? String(part) : "." + part
            keys.append(prefix)
        }
        if case .object(let members) = value {
            for (child, childValue) in members { keys += configKeys(key + "." + child, value: childValue) }
        }
        return keys
    }

    static func readPattern(_ node: ManifestNode, what: String) throws(ManifestError) -> ConfigPattern {
        var requirements: [Assignment] = []
        let entries = try node.mapping(expected: "a mapping of config key -> value to match (\(what))")
        if entries.isEmpty { throw node.error("empty condition in \(what) matches every run", expected: "at least one config key -> value") }
        for entry in entries {
            requirements.append(Assignment(path: entry.key.split(separator: ".").map(String.init), value: entry.value.json))
        }
        return ConfigPattern(requirements: requirements)
    }

    /// Each preset's values flattened, and the engine each names (its own, else its bases' last).
    static func readPresets(_ node: ManifestNode?, engines: [String: EngineSpec], known: inout Set<String>)
        throws(ManifestError) -> (presets: [String: [Assignment]], engines: [String: String]) {
        guard let node else { return ([:], [:]) }
        var definitions: [String: (node: ManifestNode, bases: [String], own: [Assignment])] = [:]
        var presetEngines: [String: String] = [:]
        let entries = try node.mapping(expected: "a mapping of preset name -> settings")
        for entry in entries {
            let bases = try entry.value["preset"].map { node throws(ManifestError) in try node.strings(expected: "preset names") } ?? []
            let own = try readLayer(entry.value, skipping: ["preset", "engine"], known: &known)
            definitions[entry.key] = (entry.value, bases, own)
            if let engineNode = entry.value["engine"] {
                presetEngines[entry.key] = try readEngineName(engineNode, engines: engines)
            }
        }
        let names = entries.map(\.key)
        var flattened: [String: [Assignment]] = [:]
        func flatten(_ name: String, chain: [String]) throws(ManifestError) -> [Assignment] {
            if let done = flattened[name] { return done }
            let definition = definitions[name]!
            var result: [Assignment] = []
            for base in definition.bases {
                let baseNode = definition.node["preset"]!
                guard definitions[base] != nil else {
                    throw baseNode.error("unknown preset '\(base)'", expected: "one of: " + names.joined(separator: ", "),
                                         suggestion: Spelling.closest(to: base, among: names))
                }
                if chain.contains(base) {
                    throw baseNode.error("presets build on each other in a cycle: " + (chain + [base]).joined(separator: " -> "),
                                         expected: "presets that build on others without a cycle")
                }
                result += try flatten(base, chain: chain + [base])
            }
            result += definition.own
            if presetEngines[name] == nil {
                presetEngines[name] = definition.bases.compactMap { presetEngines[$0] }.last
            }
            flattened[name] = result
            return result
        }
        for name in names { _ = try flatten(name, chain: [name]) }
        return (flattened, presetEngines)
    }

    /// `engine: NAME` in a group or a preset: a name `engines:` declares.
    static func readEngineName(_ node: ManifestNode, engines: [String: EngineSpec]) throws(ManifestError) -> String {
        let name = try node.string(expected: "the name of an engine declared under `engines:`")
        guard engines[name] == nil else { return name }
        let names = engines.keys.sorted()
        throw node.error(engines.isEmpty ? "unknown engine '\(name)' (the manifest declares no `engines:`)" : "unknown engine '\(name)'",
                         expected: engines.isEmpty ? "an `engines:` entry named '\(name)'" : "one of: " + names.joined(separator: ", "),
                         suggestion: Spelling.closest(to: name, among: names))
    }

    static func readConditionals(_ node: ManifestNode?, known: inout Set<String>) throws(ManifestError) -> [Conditional] {
        guard let node else { return [] }
        var rules: [Conditional] = []
        for item in try node.sequence(expected: "a list of {when: {...}, set: {...}}") {
            try item.checkKeys(["when", "set"], in: "a conditional")
            guard let when = item["when"] else { throw item.error("conditional without `when`", expected: "when: {key: value}") }
            guard let set = item["set"] else { throw item.error("conditional without `set`", expected: "set: {key: value}") }
            rules.append(Conditional(when: try readPattern(when, what: "when"), set: try readLayer(set, known: &known)))
        }
        return rules
    }

    static func readSeeds(_ node: ManifestNode, limits: ManifestLimits) throws(ManifestError) -> [Int] {
        let expected = "a list of integer seeds, or a count n meaning seeds 0..n-1"
        if case .int(let count)? = node.scalar {
            guard count >= 1 else { throw node.error("seed count \(count) gives no runs", expected: expected) }
            guard count <= limits.maxRuns else { throw limits.tooManyRuns(count, at: node, what: "seeds: \(count)") }
            return Array(0..<count)
        }
        let items = try node.sequence(expected: expected)
        if items.isEmpty { throw node.error("no seeds: every run needs at least one", expected: expected) }
        var seeds: [Int] = []
        for item in items {
            let seed = try item.int(expected: "an integer seed")
            if seeds.contains(seed) { throw item.error("seed \(seed) is listed twice", expected: "distinct seeds") }
            seeds.append(seed)
        }
        return seeds
    }

    // MARK: groups

    static func readGroup(_ entry: ManifestNode.Entry, presets: [String: [Assignment]], engines: [String: EngineSpec],
                          seeds: [Int], limits: ManifestLimits, known: inout Set<String>) throws(ManifestError) -> GroupDefinition {
        let node = entry.value
        let what = "group '\(entry.key)'"
        if node.isNull {
            return GroupDefinition(name: entry.key, node: node, set: [], rows: nil, axes: [], zips: [], includes: [],
                                   excludes: [], conditionals: [], seeds: seeds, needs: [])
        }
        try node.checkKeys(GroupDefinition.keys, in: what)
        let presetNames = presets.keys.sorted()

        func checkPreset(_ name: String, at node: ManifestNode) throws(ManifestError) {
            guard presets[name] == nil else { return }
            throw node.error(presets.isEmpty ? "unknown preset '\(name)' (the manifest declares no presets)" : "unknown preset '\(name)'",
                             expected: presets.isEmpty ? "a `presets:` entry named '\(name)'" : "one of: " + presetNames.joined(separator: ", "),
                             suggestion: Spelling.closest(to: name, among: presetNames))
        }

        func readPoint(_ node: ManifestNode, labelled: Bool) throws(ManifestError) -> Point {
            var point = Point(label: nil)
            _ = try node.mapping(expected: labelled ? "a row: {label: ..., preset: ..., key: value...}"
                                                    : "an entry: {key: value...} (optionally label, preset)")
            if let labelNode = node["label"] {
                point.label = try labelNode.string(expected: "a label (a string)")
            } else if labelled {
                throw node.error("row without a label", expected: "label: \"the row's name in tables\"")
            }
            for key in ["preset", "presets"] {
                guard let presetNode = node[key] else { continue }
                let names = try presetNode.strings(expected: "a preset name or a list of them")
                for name in names { try checkPreset(name, at: presetNode) }
                point.presets += names
            }
            point.assignments = try readLayer(node, skipping: ["label", "preset", "presets"], known: &known)
            return point
        }

        func readAxes(_ node: ManifestNode, what axisKind: String) throws(ManifestError) -> [Axis] {
            var axes: [Axis] = []
            let entries = try node.mapping(expected: "a mapping of config key -> list of values")
            if entries.isEmpty { throw node.error("empty \(axisKind)", expected: "at least one key -> list of values") }
            for axisEntry in entries {
                let values = try axisEntry.value.sequence(expected: "a list of values for \(axisKind) key '\(axisEntry.key)'")
                if values.isEmpty {
                    throw axisEntry.value.error("empty axis '\(axisEntry.key)' gives no runs", expected: "at least one value")
                }
                if axisEntry.key == GroupDefinition.presetAxis {
                    for value in values { try checkPreset(try value.string(expected: "a preset name"), at: value) }
                } else {
                    _ = try readKey(axisEntry, in: node)
                    for value in values { known.formUnion(configKeys(axisEntry.key, value: value.json)) }
                    try checkOneKind(values, axis: axisEntry.key)
                }
                axes.append(Axis(key: axisEntry.key, values: values.map(\.json), node: axisEntry.value))
            }
            return axes
        }

        let set = try node["set"].map { layer throws(ManifestError) in try readLayer(layer, known: &known) } ?? []

        var rows: [Point]?
        if let rowsNode = node["rows"] {
            let items = try rowsNode.sequence(expected: "a list of labelled rows")
            if items.isEmpty { throw rowsNode.error("empty rows list gives no runs", expected: "at least one row") }
            rows = []
            for item in items { rows!.append(try readPoint(item, labelled: true)) }
        }
        let axes = try node["grid"].map { grid throws(ManifestError) in try readAxes(grid, what: "grid") } ?? []

        var zips: [[Axis]] = []
        if let zipNode = node["zip"] {
            // One block (a mapping) or several (a list of mappings), each zipped on its own.
            let blocks = zipNode.items ?? [zipNode]
            if blocks.isEmpty { throw zipNode.error("empty zip", expected: "a mapping of key -> list of values") }
            for block in blocks {
                let columns = try readAxes(block, what: "zip")
                let length = columns[0].values.count
                for column in columns.dropFirst() where column.values.count != length {
                    throw column.node.error(
                        "zipped '\(column.key)' has \(column.values.count) values but '\(columns[0].key)' has \(length)",
                        expected: "lists of the same length in one zip block")
                }
                zips.append(columns)
            }
        }

        var includes: [Point] = []
        if let includeNode = node["include"] {
            for item in try includeNode.sequence(expected: "a list of extra runs ({key: value...})") {
                includes.append(try readPoint(item, labelled: false))
            }
        }
        var excludes: [ConfigPattern] = []
        if let excludeNode = node["exclude"] {
            for item in try excludeNode.sequence(expected: "a list of {key: value} patterns") {
                excludes.append(try readPattern(item, what: "exclude"))
            }
        }
        let conditionals = try readConditionals(node["conditionals"], known: &known)
        let groupSeeds = try node["seeds"].map { node throws(ManifestError) in try readSeeds(node, limits: limits) } ?? seeds
        let needs = try readNeeds(node["needs"])

        let engine = try node["engine"].map { node throws(ManifestError) in try readEngineName(node, engines: engines) }
        let group = GroupDefinition(name: entry.key, node: node, engine: engine, set: set, rows: rows, axes: axes, zips: zips,
                                    includes: includes, excludes: excludes, conditionals: conditionals,
                                    seeds: groupSeeds, needs: needs)
        // Labels name table rows, so each must say which runs it means.
        var seen: Set<String> = []
        let labelled = (rows ?? []).map { ($0, node["rows"]!) } + includes.map { ($0, node["include"]!) }
        for (index, (point, listNode)) in labelled.enumerated() {
            guard let label = point.label else { continue }
            if !seen.insert(label).inserted {
                let items = listNode.items!
                let item = index < (rows?.count ?? 0) ? items[index] : items[index - (rows?.count ?? 0)]
                throw (item["label"] ?? item).error("duplicate label '\(label)' in group '\(entry.key)'",
                                                    expected: "each row label once per group")
            }
        }
        return group
    }

    /// An axis whose values are numbers but one (`rank: [four, 16]`) has a typo, not a plan:
    /// the odd value is named, instead of a table row that later selects no run.
    static func checkOneKind(_ values: [ManifestNode], axis: String) throws(ManifestError) {
        let kinds = values.map { ValueKind($0.json) }
        var counts: [ValueKind: Int] = [:]
        // Only numbers mixed with strings: other mixes (null among numbers, a list of alternatives) can be meant.
        for kind in kinds where kind == .number || kind == .string { counts[kind, default: 0] += 1 }
        guard counts.count > 1, let common = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue > $1.key.rawValue) })?.key
        else { return }
        let odd = values.first { let kind = ValueKind($0.json); return kind != common && counts[kind] != nil }!
        throw odd.error("axis '\(axis)' has \(odd.kindDescription) among \(common.rawValue)s",
                        expected: "values of one kind (\(common.rawValue)s, as the axis's other values)")
    }

    static func readNeeds(_ node: ManifestNode?) throws(ManifestError) -> [NeedDefinition] {
        guard let node else { return [] }
        var needs: [NeedDefinition] = []
        for entry in try node.mapping(expected: "a mapping of dependency name -> group (or {group, match, where})") {
            if entry.key.isEmpty || entry.key.contains(where: { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) {
                throw entry.value.error("dependency name '\(entry.key)' cannot be used in ${needs.NAME}",
                                        expected: "letters, digits, _ and -")
            }
            if case .scalar = entry.value.content {
                let target = try entry.value.string(expected: "a group name")
                needs.append(NeedDefinition(name: entry.key, group: target, match: [], filter: ConfigPattern(requirements: []),
                                            node: entry.value))
                continue
            }
            try entry.value.checkKeys(["group", "match", "where"], in: "needs '\(entry.key)'")
            guard let groupNode = entry.value["group"] else {
                throw entry.value.error("needs '\(entry.key)' names no group", expected: "group: <name of a run group>")
            }
            let target = try groupNode.string(expected: "a group name")
            let match = try entry.value["match"].map { node throws(ManifestError) in try node.strings(expected: "a list of config keys") } ?? []
            let filter = try entry.value["where"].map { node throws(ManifestError) in try readPattern(node, what: "needs.\(entry.key).where") }
            needs.append(NeedDefinition(name: entry.key, group: target,
                                        match: match.map { $0.split(separator: ".").map(String.init) },
                                        filter: filter ?? ConfigPattern(requirements: []), node: entry.value))
        }
        return needs
    }
}
