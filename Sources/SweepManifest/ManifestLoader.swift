import Foundation
import SweepCore

/// Turns a manifest file into a `Plan`. See docs/manifest.md for the language.
public enum ManifestLoader {
    /// Parses, validates and expands a manifest into a Plan. Nothing runs here.
    ///
    /// - Parameters:
    ///   - overrides: Hydra-style `key=value` arguments (`epochs=5`, `seeds=[0,1]`, `+new_key=1`).
    ///   - profile: applies `profiles.<profile>` (before `overrides`) and sets config key `profile`.
    /// - Throws: `ManifestError` naming the file, line, column and key of the first problem.
    ///   - limits: how large the plan may be; checked before anything is expanded.
    public static func load(file: URL, overrides: [String] = [], profile: String? = nil,
                            limits: ManifestLimits = ManifestLimits()) throws -> Plan {
        try plan(file: file, overrides: overrides, profile: profile, limits: limits)
    }

    static func plan(file: URL, overrides overrideTexts: [String], profile: String?,
                     limits: ManifestLimits = ManifestLimits()) throws(ManifestError) -> Plan {
        let (document, expansion) = try expand(file: file, overrides: overrideTexts, profile: profile, limits: limits)
        let tables = try TableReader(expansion: expansion, document: document).read(document.tables)
        return Plan(name: document.name, manifest: file, runs: expansion.runs, engine: document.engine,
                    executor: document.executor, tables: tables)
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
        if let profile { overrides += try profileOverrides(profile, root: root) }
        for (index, text) in overrideTexts.enumerated() {
            overrides.append(try Override(commandLine: text, position: index + 1))
        }
        for override in overrides where override.editsManifest {
            root = try root.setting(override.keys[...], to: override.value, location: override.location,
                                    display: override.display)
        }

        let document = try ManifestDocument(root: root, manifestFile: file, limits: limits)
        var configOverrides: [Assignment] = []
        for override in overrides where !override.editsManifest {
            try override.checkConfigKey(known: document.knownConfigKeys)
            configOverrides.append(Assignment(path: override.keys, value: override.value.json, origin: override.origin))
        }

        var planner = Planner(document: document, engine: document.engine, overrides: configOverrides, profile: profile,
                              limits: limits)
        planner.trace = trace
        return (document, try planner.expand())
    }

    /// `--profile NAME`: the entries of `profiles.NAME`, as overrides that point into the manifest.
    private static func profileOverrides(_ name: String, root: ManifestNode) throws(ManifestError) -> [Override] {
        let profiles = try root["profiles"]?.mapping(expected: "a mapping of profile name -> {key: value}") ?? []
        guard let profile = profiles.first(where: { $0.key == name }) else {
            let names = profiles.map(\.key)
            throw ManifestError(file: ManifestError.commandLine, line: 1, column: 1, keyPath: "--profile",
                                problem: "unknown profile '\(name)'" + (names.isEmpty ? " (the manifest declares no profiles)" : ""),
                                expected: names.isEmpty ? "a `profiles:` entry in \(root.location.file)" : "one of: " + names.joined(separator: ", "),
                                suggestion: Spelling.closest(to: name, among: names))
        }
        // results/<name>-<profile>/ holds the profile's tables.
        try PathName.check(name, what: "profile name", at: profile.keyLocation, keyPath: "profiles." + name)
        if profile.value.isNull { return [] }
        return try profile.value.mapping(expected: "a mapping of override key -> value").map { entry throws(ManifestError) in
            try Override(profile: name, entry: entry)
        }
    }

    /// Paths inside the working directory are shown relative to it, as users typed them.
    private static func displayPath(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        let prefix = cwd.hasSuffix("/") ? cwd : cwd + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }
}
