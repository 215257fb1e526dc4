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
    public static func load(file: URL, overrides: [String] = [], profile: String? = nil) throws -> Plan {
        try plan(file: file, overrides: overrides, profile: profile)
    }

    static func plan(file: URL, overrides overrideTexts: [String], profile: String?) throws(ManifestError) -> Plan {
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

        let document = try ManifestDocument(root: root, manifestFile: file)
        var configOverrides: [Assignment] = []
        for override in overrides where !override.editsManifest {
            try override.checkConfigKey(known: document.knownConfigKeys)
            configOverrides.append(Assignment(path: override.keys, value: override.value.json))
        }

        let planner = Planner(document: document, engine: document.engine, overrides: configOverrides, profile: profile)
        let expansion = try planner.expand()
        let tables = try TableReader(expansion: expansion, document: document).read(document.tables)
        return Plan(name: document.name, manifest: file, runs: expansion.runs, engine: document.engine,
                    executor: document.executor, tables: tables)
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
