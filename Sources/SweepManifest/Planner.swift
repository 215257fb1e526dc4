import RunContract
import SweepCore

/// Expands a validated manifest into runs: groups in dependency order, each group's points
/// (rows x grid x zip blocks, then include entries) times its seeds, with presets,
/// overrides and conditionals applied, excluded runs dropped, dependencies resolved to
/// `run://` references, and identical runs merged.
struct Planner {
    /// A run as its group sees it, before merging identical runs across groups.
    struct GroupRun {
        var runIndex: Int
        var label: String?
    }

    struct Expansion {
        /// Dependencies first; one entry per distinct run id.
        var runs: [PlannedRun]
        /// Each group's runs in expansion order (a run shared with an earlier group appears in both).
        var groupRuns: [String: [GroupRun]]
        var groupOrder: [String]
    }

    let document: ManifestDocument
    /// The engine of runs whose group and presets name none.
    let engine: EngineSpec
    /// `key=value` overrides of config values: applied after the grid and again after the conditionals, so they always win.
    let overrides: [Assignment]
    /// Command-line sweeps (`rank=4,8`): grid axes of every group, whose values act as overrides.
    var sweeps: [Axis] = []
    /// The value of config key `profile`, if any (see `ManifestLoader.profileOverrides`).
    let profile: String?
    var limits = ManifestLimits()
    /// Set only to find where values came from: records what each traced run received.
    var trace: OriginTrace?

    func expand() throws(ManifestError) -> Expansion {
        var expansion = Expansion(runs: [], groupRuns: [:], groupOrder: [])
        // Counted before anything is expanded: a grid of 10^9 points is refused, not allocated.
        // Command-line sweeps multiply every group.
        let swept = sweeps.reduce(1) { $0.multipliedSaturating(by: $1.values.count) }
        var expected = 0
        for group in document.groups {
            let runs = group.runCountBeforeExclusion.multipliedSaturating(by: swept)
            expected = expected.addingSaturating(runs)
            if expected > limits.maxRuns {
                throw limits.tooManyRuns(expected, at: group.node["grid"] ?? group.node["zip"] ?? group.node,
                                         what: "group '\(group.name)' (\(group.runCountFormula))"
                                            + (swept == 1 ? "" : " x \(swept) command-line sweep values")
                                            + (expected == runs ? "" : " with the groups before it"))
            }
        }
        expansion.runs.reserveCapacity(expected)
        var index: [RunID: Int] = [:]
        index.reserveCapacity(expected)
        let interner = ReferenceInterner()
        for group in try dependencyOrder() {
            let dependencies = try group.needs.map { need throws(ManifestError) in
                // A command-line sweep crosses the needed group too: each run needs the one with its values.
                var need = need
                for sweep in sweeps {
                    let path = sweep.key.split(separator: ".").map(String.init)
                    if !need.match.contains(path) { need.match.append(path) }
                }
                return try DependencyIndex(need: need, runs: expansion.groupRuns[need.group]!, all: expansion.runs)
            }
            var groupRuns: [GroupRun] = []
            groupRuns.reserveCapacity(group.runCountBeforeExclusion)
            try forEachRun(of: group, dependencies: dependencies, interner: interner) { run, label in
                if let existing = index[run.id] {
                    groupRuns.append(GroupRun(runIndex: existing, label: label))
                } else {
                    index[run.id] = expansion.runs.count
                    groupRuns.append(GroupRun(runIndex: expansion.runs.count, label: label))
                    expansion.runs.append(run)
                }
            }
            if groupRuns.isEmpty {
                throw (group.node["exclude"] ?? group.node).error("every run of group '\(group.name)' is excluded",
                                       expected: "exclude rules that leave at least one run")
            }
            expansion.groupRuns[group.name] = groupRuns
            expansion.groupOrder.append(group.name)
        }
        return expansion
    }

    // MARK: order

    /// Groups with their dependencies first, otherwise in manifest order.
    func dependencyOrder() throws(ManifestError) -> [GroupDefinition] {
        let groups = document.groups
        var done = Set<String>()
        var order: [GroupDefinition] = []
        while order.count < groups.count {
            guard let next = groups.first(where: { group in
                !done.contains(group.name) && group.needs.allSatisfy { done.contains($0.group) }
            }) else {
                throw cycleError(among: groups.filter { !done.contains($0.name) })
            }
            done.insert(next.name)
            order.append(next)
        }
        return order
    }

    private func cycleError(among remaining: [GroupDefinition]) -> ManifestError {
        let byName = Dictionary(uniqueKeysWithValues: remaining.map { ($0.name, $0) })
        // Every remaining group waits on another remaining one, so walking "needs" must revisit a group.
        var path: [String] = [remaining[0].name]
        var edges: [ManifestNode] = []
        while true {
            let group = byName[path.last!]!
            let need = group.needs.first { byName[$0.group] != nil }!
            edges.append(need.node)
            if let start = path.firstIndex(of: need.group) {
                let cycle = path[start...] + [need.group]
                let node = edges[start]
                return node.error("dependency cycle: " + cycle.joined(separator: " -> ") + " (each group needs the next)",
                                  expected: "needs that form no cycle")
            }
            path.append(need.group)
        }
    }

    // MARK: points and runs

    /// Calls `body` for each run of `group`, in order: rows (outermost), grid axes (first
    /// axis slowest), zip blocks, then include entries; seeds innermost.
    private func forEachRun(of group: GroupDefinition, dependencies: [DependencyIndex], interner: ReferenceInterner,
                            _ body: (PlannedRun, String?) throws(ManifestError) -> Void) throws(ManifestError) {
        var base = JSONValue.object([:])
        for assignment in document.defaults + group.set { base.assign(assignment.path[...], assignment.value) }

        let rows = group.rows ?? [Point(label: nil)]
        var dimensions: [[Point]] = [rows]
        for axis in group.axes { dimensions.append(axis.values.indices.map(axis.point)) }
        for block in group.zips {
            dimensions.append((0..<block[0].values.count).map { index in
                block.dropFirst().reduce(block[0].point(index)) { $0.combined(with: $1.point(index)) }
            })
        }
        // Command-line sweeps cross every point, include entries too (Hydra's multirun: every job).
        var swept = [Point(label: nil)]
        for sweep in sweeps {
            swept = swept.flatMap { point in
                sweep.values.map { value in
                    point.combined(with: Point(label: nil, axes: [(sweep.key, value)], overrides: [
                        Assignment(path: sweep.key.split(separator: ".").map(String.init), value: value),
                    ]))
                }
            }
        }
        if !sweeps.isEmpty { dimensions.append(swept) }
        let combinations = dimensions.reduce(1) { $0 * $1.count }

        var digits = [Int](repeating: 0, count: dimensions.count)
        for _ in 0..<combinations {
            var point = dimensions[0][digits[0]]
            for dimension in 1..<dimensions.count { point = point.combined(with: dimensions[dimension][digits[dimension]]) }
            try forEachSeed(of: point, base: base, group: group, dependencies: dependencies, interner: interner, body)
            // Odometer: the last dimension turns fastest.
            var position = dimensions.count - 1
            while position >= 0 {
                digits[position] += 1
                if digits[position] < dimensions[position].count { break }
                digits[position] = 0
                position -= 1
            }
        }
        for include in group.includes {
            for sweep in swept {
                try forEachSeed(of: include.combined(with: sweep), base: base, group: group, dependencies: dependencies,
                                interner: interner, body)
            }
        }
    }

    private func forEachSeed(of point: Point, base: JSONValue, group: GroupDefinition, dependencies: [DependencyIndex],
                             interner: ReferenceInterner, _ body: (PlannedRun, String?) throws(ManifestError) -> Void) throws(ManifestError) {
        var pointConfig = base
        for name in point.presets {
            for assignment in document.presets[name]! { pointConfig.assign(assignment.path[...], assignment.value) }
        }
        for assignment in point.assignments { pointConfig.assign(assignment.path[...], assignment.value) }
        if let profile { pointConfig.assign([ReservedKey.profile], .string(profile)) }
        // The engine: the last of the point's presets that names one, else the group's.
        let engineName = point.presets.compactMap { document.presetEngines[$0] }.last ?? group.engine
        let engine = engineName.map { document.engines[$0]! } ?? self.engine
        let axes = Dictionary(point.axes, uniquingKeysWith: { _, last in last })
        let conditionals = document.conditionals + group.conditionals
        let dependencyNames = dependencies.map(\.need.name)
        // Where this point's config holds `${needs.…}` strings: found once per point, not per run.
        // Overrides or conditionals that bring their own references need the full walk.
        var templates: [(path: [String], text: String)] = []
        let overrides = self.overrides + point.overrides
        var walkEveryRun = overrides.contains { $0.value.mentionsNeeds }
            || conditionals.contains { $0.set.contains { $0.value.mentionsNeeds } }
        if !walkEveryRun { walkEveryRun = !pointConfig.collectNeedsTemplates(at: [], into: &templates) }
        let pointAssignments = trace == nil ? [] : document.defaults + group.set
            + point.presets.flatMap { document.presets[$0]! } + point.assignments

        for seed in group.seeds {
            var config = pointConfig
            config.assign([ReservedKey.seed], .int(seed))
            for assignment in overrides { config.assign(assignment.path[...], assignment.value) }
            var conditioned = false
            var applied: [Assignment] = []
            for rule in conditionals where rule.when.matches(config) {
                for assignment in rule.set { config.assign(assignment.path[...], assignment.value) }
                conditioned = true
                if trace != nil { applied += rule.set }
            }
            if conditioned { for assignment in overrides { config.assign(assignment.path[...], assignment.value) } }
            if group.excludes.contains(where: { $0.matches(config) }) { continue }

            var needs: [String: RunID] = [:]
            if !dependencies.isEmpty {
                var selected: [RunID] = []
                selected.reserveCapacity(dependencies.count)
                for dependency in dependencies { selected.append(try dependency.select(for: config, in: group)) }
                let shared = interner.needs(dependencyNames, selected)
                needs = shared.byName
                config.assign([ReservedKey.needs], shared.references)
            }
            if walkEveryRun {
                if config.mentionsNeeds { try substituteNeeds(in: &config, needs: needs, group: group, interner: interner) }
            } else {
                for template in templates where config.value(at: template.path[...]) == .string(template.text) {
                    config.assign(template.path[...], try reference(template.text, needs: needs, group: group, interner: interner))
                }
            }
            let id = RunID(config: config, engine: engine)
            if let trace, trace.runs.contains(id) {
                trace.assignments[id] = pointAssignments + overrides + applied + (conditioned ? overrides : [])
            }
            try body(PlannedRun(id: id, group: group.name, label: point.label, seed: seed, config: config,
                                needs: needs, axes: axes, engine: engineName), point.label)
        }
    }

    static let needsPrefix = "${needs."
    private static let needsPrefixBytes = Array(needsPrefix.utf8)

    /// Byte search: Foundation's `contains` is far too slow for every string of 100,000 configs.
    static func containsNeedsPrefix(_ text: String) -> Bool {
        let bytes = text.utf8
        guard bytes.count >= needsPrefixBytes.count else { return false }
        var index = bytes.startIndex
        while let dollar = bytes[index...].firstIndex(of: UInt8(ascii: "$")) {
            if bytes[dollar...].starts(with: needsPrefixBytes) { return true }
            index = bytes.index(after: dollar)
        }
        return false
    }

    /// The manifest node a config string came from (the group's own first, then anywhere).
    private func origin(of text: String, in group: GroupDefinition) -> ManifestNode {
        let isText = { (node: ManifestNode) in node.scalar == .string(text) }
        return group.node.first(where: isText) ?? document.root.first(where: isText) ?? group.node
    }

    /// `${needs.NAME}/file` -> `run://<id>/file`; the executor turns those into paths at launch.
    private func reference(_ text: String, needs: [String: RunID], group: GroupDefinition,
                           interner: ReferenceInterner) throws(ManifestError) -> JSONValue {
        guard text.hasPrefix(Self.needsPrefix), let close = text.firstIndex(of: "}") else {
            throw origin(of: text, in: group).error("'\(text)': a ${needs.NAME} reference must start the value",
                                                    expected: "${needs.NAME} or ${needs.NAME}/path/inside/its/run/directory")
        }
        let name = String(text[text.index(text.startIndex, offsetBy: Self.needsPrefix.count)..<close])
        if let id = needs[name], let known = interner.resolved[ResolvedTemplate(text: text, id: id)] { return known }
        guard let id = needs[name] else {
            let declared = group.needs.map(\.name)
            throw origin(of: text, in: group).error(
                "'\(text)' refers to dependency '\(name)', which group '\(group.name)' does not declare",
                expected: declared.isEmpty ? "a `needs:` entry named '\(name)' in group '\(group.name)'"
                                           : "one of: " + declared.joined(separator: ", "),
                suggestion: Spelling.closest(to: name, among: declared))
        }
        var rest = String(text[text.index(after: close)...])
        if rest.hasPrefix("/") { rest.removeFirst() }
        if rest.split(separator: "/").contains("..") {
            throw origin(of: text, in: group).error("'\(text)' climbs out of the run directory of '\(name)' with '..'",
                                                    expected: "${needs.NAME}/path/inside/its/run/directory")
        }
        let resolved = interner.string(RunReference.make(id, path: rest))
        interner.resolved[ResolvedTemplate(text: text, id: id)] = resolved
        return resolved
    }

    /// Substitutes every reference inside `config`, in place (the config is this run's own copy).
    private func substituteNeeds(in config: inout JSONValue, needs: [String: RunID], group: GroupDefinition,
                                 interner: ReferenceInterner) throws(ManifestError) {
        switch config {
        case .string(let text):
            guard Self.containsNeedsPrefix(text) else { return }
            config = try reference(text, needs: needs, group: group, interner: interner)
        case .array(var values):
            config = .null // release the enum's reference so `values` is edited in place
            for index in values.indices where values[index].mentionsNeeds {
                try substituteNeeds(in: &values[index], needs: needs, group: group, interner: interner)
            }
            config = .array(values)
        case .object(var members):
            config = .null
            for key in members.keys.filter({ members[$0]!.mentionsNeeds }) {
                try substituteNeeds(in: &members[key]!, needs: needs, group: group, interner: interner)
            }
            config = .object(members)
        default:
            return
        }
    }
}

/// Runs that depend on the same runs share one copy of their dependency maps and reference
/// strings; 100,000 runs would otherwise hold 100,000 copies of each.
struct ResolvedTemplate: Hashable {
    var text: String
    var id: RunID
}

final class ReferenceInterner {
    private var needs: [[RunID]: (byName: [String: RunID], references: JSONValue)] = [:]
    private var strings: [String: JSONValue] = [:]
    /// `${needs.NAME}/path` with NAME resolved to `id` -> its `run://` reference.
    var resolved: [ResolvedTemplate: JSONValue] = [:]

    func needs(_ names: [String], _ ids: [RunID]) -> (byName: [String: RunID], references: JSONValue) {
        if let shared = needs[ids] { return shared }
        var byName: [String: RunID] = [:]
        var references: [String: JSONValue] = [:]
        for (name, id) in zip(names, ids) {
            byName[name] = id
            references[name] = string(RunReference.make(id))
        }
        let shared = (byName, JSONValue.object(references))
        needs[ids] = shared
        return shared
    }

    func string(_ text: String) -> JSONValue {
        if let shared = strings[text] { return shared }
        strings[text] = .string(text)
        return .string(text)
    }
}

extension JSONValue {
    /// Appends the paths of strings holding `${needs.…}`; false when one sits inside a list
    /// (a path of keys cannot reach it).
    func collectNeedsTemplates(at path: [String], into templates: inout [(path: [String], text: String)]) -> Bool {
        switch self {
        case .string(let text):
            if Planner.containsNeedsPrefix(text) { templates.append((path, text)) }
            return true
        case .array(let values):
            return !values.contains { $0.mentionsNeeds }
        case .object(let members):
            for (key, value) in members where value.mentionsNeeds {
                if !value.collectNeedsTemplates(at: path + [key], into: &templates) { return false }
            }
            return true
        default:
            return true
        }
    }

    /// Whether a `${needs.NAME}` reference is somewhere inside (checked without copying anything).
    var mentionsNeeds: Bool {
        switch self {
        case .string(let text): return Planner.containsNeedsPrefix(text)
        case .array(let values): return values.contains { $0.mentionsNeeds }
        case .object(let members): return members.values.contains { $0.mentionsNeeds }
        default: return false
        }
    }
}

/// The runs of a needed group, indexed by the values of the keys the dependent must match.
struct DependencyIndex {
    let need: NeedDefinition
    private var candidates: [String: [RunID]] = [:]

    init(need: NeedDefinition, runs: [Planner.GroupRun], all: [PlannedRun]) throws(ManifestError) {
        self.need = need
        for groupRun in runs {
            let run = all[groupRun.runIndex]
            guard need.filter.matches(run.config) else { continue }
            let key = Self.key(need.match, in: run.config)
            if candidates[key]?.contains(run.id) != true { candidates[key, default: []].append(run.id) }
        }
        if candidates.isEmpty {
            throw (need.node["where"] ?? need.node).error(
                "no run of group '\(need.group)' has \(need.filter.summary)", expected: "a `where` that some run of '\(need.group)' satisfies")
        }
    }

    private static func key(_ paths: [[String]], in config: JSONValue) -> String {
        paths.map { config.value(at: $0[...])?.canonical ?? "null" }.joined(separator: "\u{1F}")
    }

    func select(for config: JSONValue, in group: GroupDefinition) throws(ManifestError) -> RunID {
        let matches = candidates[Self.key(need.match, in: config)] ?? []
        if matches.count == 1 { return matches[0] }
        let values = need.match.map { path in "\(path.joined(separator: "."))=\(config.value(at: path[...])?.canonical ?? "null")" }
        let which = values.isEmpty ? "" : " with " + values.joined(separator: ", ")
        if matches.isEmpty {
            throw need.node.error("a run of group '\(group.name)' needs '\(need.name)': no run of group '\(need.group)'\(which)",
                                  expected: "a run of '\(need.group)' for every run of '\(group.name)' (check `match` and `where`)")
        }
        throw need.node.error("a run of group '\(group.name)' needs '\(need.name)': \(matches.count) runs of group '\(need.group)' match\(which)",
                              expected: "exactly one: add keys to `match` (e.g. seed) or a `where` that picks one")
    }
}
