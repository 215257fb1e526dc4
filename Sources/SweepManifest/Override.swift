import SweepCore

/// A `key=value` from the command line or a profile, Hydra style. `key` is a dotted path;
/// a first component naming a manifest section (`seeds`, `executor`, `groups`, ...) edits the
/// manifest, anything else sets a config value in every run. A config key the manifest never
/// sets needs a leading `+` (so a typo is an error, not a new key).
struct Override {
    var keys: [String]
    var addsKey: Bool
    var value: ManifestNode
    var location: SourceLocation
    /// How messages name it: `override 'epochs=5'` or `profile smoke: epochs`.
    var display: String

    var key: String { keys.joined(separator: ".") }
    /// Where a run's value came from, when it came from here: the override, or the profile's line.
    var origin: String { location.file == ManifestError.commandLine ? display : "\(location) (\(display))" }
    var editsManifest: Bool { ManifestDocument.topLevelKeys.contains(keys[0]) }

    func error(_ problem: String, expected: String? = nil, suggestion: String? = nil) -> ManifestError {
        ManifestError(file: location.file, line: location.line, column: location.column, keyPath: key,
                      problem: "\(display): \(problem)", expected: expected, suggestion: suggestion)
    }

    static let syntax = "key=value, +new_key=value or section.key=value (e.g. epochs=5, seeds=[0,1], optimizer.lr=1e-3)"

    /// Parses the `position`-th (1-based) command-line override.
    init(commandLine text: String, position: Int) throws(ManifestError) {
        let location = SourceLocation(file: ManifestError.commandLine, line: position, column: 1)
        display = "override '\(text)'"
        func fail(_ problem: String, column: Int = 1) -> ManifestError {
            ManifestError(file: location.file, line: position, column: column, keyPath: "",
                          problem: "override '\(text)': \(problem)", expected: Self.syntax)
        }
        guard let equals = text.firstIndex(of: "=") else { throw fail("no '=' between key and value") }
        var key = Substring(text[..<equals])
        if key.hasPrefix("~") { throw fail("deleting keys (~key) is not supported") }
        addsKey = key.hasPrefix("+")
        if addsKey { key = key.dropFirst() }
        if key.hasPrefix("+") { throw fail("'++' is not supported; use +key=value to add a key or key=value to change one") }
        keys = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if keys.contains(where: { $0.isEmpty || $0.contains(where: \.isWhitespace) }) {
            throw fail("malformed key '\(key)'")
        }
        let valueText = String(text[text.index(after: equals)...])
        let valueColumn = text.distance(from: text.startIndex, to: equals) + 2
        let valueLocation = SourceLocation(file: location.file, line: position, column: valueColumn)
        do {
            value = try ManifestNode.parse(valueText, file: location.file, path: keys.joined(separator: "."), origin: valueLocation)
                ?? ManifestNode(content: .scalar(.null), location: valueLocation, path: keys.joined(separator: "."))
        } catch {
            var error = error
            error.problem = "override '\(text)': " + error.problem
            error.expected = "a YAML value after '=' (5, 1e-3, true, name, [0, 1], {a: 1})"
            throw error
        }
        self.location = location
    }

    /// One entry of `profiles: {NAME: {key: value, ...}}`.
    init(profile: String, entry: ManifestNode.Entry) throws(ManifestError) {
        var key = Substring(entry.key)
        addsKey = key.hasPrefix("+")
        if addsKey { key = key.dropFirst() }
        keys = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        location = entry.keyLocation
        display = "profile '\(profile)'"
        value = entry.value
        if keys.contains(where: \.isEmpty) {
            throw error("malformed key '\(entry.key)'", expected: Self.syntax)
        }
    }

    /// Reserved keys and unknown config keys are refused.
    func checkConfigKey(known: Set<String>) throws(ManifestError) {
        if ReservedKey.all.contains(keys[0]) {
            if keys == [ReservedKey.seed] {
                throw error("'seed' is set per run from `seeds`", expected: "seeds=[\(value.json.canonical)]")
            }
            throw error("config key '\(keys[0])' is set by the manifest itself", expected: ReservedKey.explanation[keys[0]])
        }
        if addsKey || known.contains(key) { return }
        throw error("no run config has key '\(key)'",
                    expected: "a config key the manifest sets (defaults, set, grid, rows, presets), a manifest section ("
                        + ManifestDocument.topLevelKeys.joined(separator: ", ") + "), or +\(key)=... to add a new key",
                    suggestion: Spelling.closest(to: key, among: known.union(ManifestDocument.topLevelKeys)))
    }
}
