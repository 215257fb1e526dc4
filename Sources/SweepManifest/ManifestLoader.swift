import Foundation
import RunContract
import SweepCore

/// Turns a manifest file into a `Plan`. See docs/manifest.md for the language.
public enum ManifestLoader {
    /// Parses, validates and expands a manifest into a Plan. Nothing runs here.
    ///
    /// - Parameters:
    ///   - overrides: Hydra-style `key=value` arguments (`epochs=5`, `seeds=[0,1]`, `+new_key=1`,
    ///     `rank=4,8` for a sweep).
    ///   - profile: applies `profiles.<profile>` (before `overrides`) and sets config key `profile`.
    ///   - limits: how large the plan may be; checked before anything is expanded.
    /// - Throws: `ManifestError` naming the file, line, column and key of the first problem.
    public static func load(file: URL, overrides: [String] = [], profile: String? = nil,
                            limits: ManifestLimits = ManifestLimits()) throws -> Plan {
        try plan(file: file, overrides: overrides, profile: profile, limits: limits)
    }

    static func plan(file: URL, overrides overrideTexts: [String], profile: String?,
                     limits: ManifestLimits = ManifestLimits()) throws(ManifestError) -> Plan {
        let (document, expansion) = try expand(file: file, overrides: overrideTexts, profile: profile, limits: limits)
        let changes = (profile.map { ["--profile \($0)"] } ?? []) + overrideTexts
        var reader = TableReader(expansion: expansion, document: document, overrides: changes)
        let tables = try reader.read(document.tables)
        var plan = Plan(name: document.name, manifest: file, runs: expansion.runs, engine: document.engine,
                        executor: document.executor, tables: tables)
        plan.engines = document.engines
        plan.warnings = reader.warnings
        return plan
    }

    /// Where runs' values came from: for each run id, the place that last set the given (dotted)
    /// config key, as "file:line:col", "override 'key=value'" or "file:line:col (profile 'P')";
    /// nil where the manifest never sets it (an engine default). Plans the manifest again, tracing.
    public static func origins(of keys: [RunID: String], file: URL, overrides: [String] = [], profile: String? = nil,
                               limits: ManifestLimits = ManifestLimits()) throws -> [RunID: String] {
        let trace = OriginTrace(runs: Set(keys.keys))
        _ = try expand(file: file, overrides: overrides, profile: profile, limits: limits, trace: trace)
        var origins: [RunID: String] = [:]
        for (id, key) in keys {
            let path = key.split(separator: ".").map(String.init)
            origins[id] = trace.assignments[id].flatMap { Assignment.origin(of: path, among: $0) }
        }
        return origins
    }

    private static func expand(file: URL, overrides overrideTexts: [String], profile: String?, limits: ManifestLimits,
                               trace: OriginTrace? = nil) throws(ManifestError) -> (ManifestDocument, Planner.Expansion) {
        let path = file.isFileURL ? file.path : file.absoluteString
        var root = try ManifestFiles.loadManifest(displayPath(path))

        var overrides: [Override] = []
        var scale: String?
        if let profile {
            let chosen = try profileOverrides(profile, root: root)
            overrides += chosen.overrides
            scale = chosen.scale
        }
        for (index, text) in overrideTexts.enumerated() {
            overrides.append(try Override(commandLine: text, position: index + 1))
        }
        for override in overrides where override.editsManifest {
            try override.checkManifestPath(in: root)
            root = try root.setting(override.keys[...], to: override.value, location: override.location,
                                    display: override.display)
        }

        let document = try ManifestDocument(root: root, manifestFile: file, limits: limits)
        var configOverrides: [Assignment] = []
        var sweeps: [Axis] = []
        // Keys the bundled engine reads need no `+`: only a key nothing would read is a likely typo.
        let known = document.usesBundledEngine ? document.knownConfigKeys.union(BundledEngine.configKeys)
                                               : document.knownConfigKeys
        for override in overrides where !override.editsManifest {
            try override.checkConfigKey(known: known)
            try override.checkValueShape(manifestKinds: document.configValueKinds[override.key])
            if let values = override.sweep {
                if let twice = sweeps.first(where: { $0.key == override.key }) {
                    throw override.error("'\(twice.key)' is swept twice on the command line", expected: "one sweep per key")
                }
                sweeps.append(Axis(key: override.key, values: values.map(\.json), node: override.value))
            } else {
                configOverrides.append(Assignment(path: override.keys, value: override.value.json, origin: override.origin))
            }
        }

        var planner = Planner(document: document, engine: document.engine, overrides: configOverrides, sweeps: sweeps,
                              profile: scale, limits: limits)
        planner.trace = trace
        return (document, try planner.expand())
    }

    /// The profiles `--profile` accepts for this manifest: its own, then the bundled engine's
    /// scales it does not declare.
    public static func profileNames(file: URL) throws -> [String] {
        let path = file.isFileURL ? file.path : file.absoluteString
        let root = try ManifestFiles.loadManifest(displayPath(path))
        let declared = (root["profiles"]?.entries ?? []).map(\.key)
        let scales = root["engine"]?["command"] == nil ? BundledEngine.scales : []
        return declared + scales.filter { !declared.contains($0) }
    }

    /// `--profile NAME`: the entries of `profiles.NAME`, as overrides that point into the manifest,
    /// and the value of config key `profile`. For our engine that key is its scale (smoke, default,
    /// paper): a profile of another name leaves it out, or picks one with its own `profile:` entry,
    /// and a scale name works without a `profiles:` entry. Another engine gets the name as it is.
    private static func profileOverrides(_ name: String, root: ManifestNode) throws(ManifestError)
        -> (overrides: [Override], scale: String?) {
        let bundled = root["engine"]?["command"] == nil
        let profiles = try root["profiles"]?.mapping(expected: "a mapping of profile name -> {key: value}") ?? []
        let defaultScale = !bundled || BundledEngine.scales.contains(name) ? name : nil
        guard let profile = profiles.first(where: { $0.key == name }) else {
            if bundled, BundledEngine.scales.contains(name) { return ([], name) }
            let names = profiles.map(\.key)
            let scales = bundled ? " or one of mtl-engine's scales (" + BundledEngine.scales.joined(separator: ", ") + ")" : ""
            throw ManifestError(file: ManifestError.commandLine, line: 1, column: 1, keyPath: "--profile",
                                problem: "unknown profile '\(name)'" + (names.isEmpty ? " (the manifest declares no profiles)" : ""),
                                expected: (names.isEmpty ? "a `profiles:` entry in \(root.location.file)" : "one of: " + names.joined(separator: ", ")) + scales,
                                suggestion: Spelling.closest(to: name, among: names + (bundled ? BundledEngine.scales : [])))
        }
        // results/<name>-<profile>/ holds the profile's tables.
        try PathName.check(name, what: "profile name", at: profile.keyLocation, keyPath: "profiles." + name)
        if profile.value.isNull { return ([], defaultScale) }
        var scale = defaultScale
        var overrides: [Override] = []
        for entry in try profile.value.mapping(expected: "a mapping of override key -> value") {
            guard entry.key == ReservedKey.profile else {
                overrides.append(try Override(profile: name, entry: entry))
                continue
            }
            // `profile: smoke` inside a profile: the engine scale this profile runs at.
            let expected = bundled ? "one of mtl-engine's scales: " + BundledEngine.scales.joined(separator: ", ")
                                   : "the value of config key `profile` (a string)"
            let chosen = try entry.value.string(expected: expected)
            if bundled, !BundledEngine.scales.contains(chosen) {
                throw entry.value.error("profile '\(name)': unknown scale '\(chosen)'", expected: expected,
                                        suggestion: Spelling.closest(to: chosen, among: BundledEngine.scales))
            }
            scale = chosen
        }
        return (overrides, scale)
    }

    /// Paths inside the working directory are shown relative to it, as users typed them.
    private static func displayPath(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        let prefix = cwd.hasSuffix("/") ? cwd : cwd + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }
}
