import Foundation
import RunContract
import SweepCore

/// A `key=value` from the command line or a profile, Hydra style. `key` is a dotted path;
/// a first component naming a manifest section (`seeds`, `executor`, `groups`, ...) edits the
/// manifest, anything else sets a config value in every run. A config key the manifest never
/// sets needs a leading `+` (so a typo is an error, not a new key).
struct Override {
    var keys: [String]
    var addsKey: Bool
    var value: ManifestNode
    /// Hydra's sweep forms on the command line (`rank=4,8`, `rank=range(4,12,4)`): the values of a
    /// new grid axis over every group, each run taking one. Nil for a plain override.
    var sweep: [ManifestNode]?
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
        let path = keys.joined(separator: ".")
        func parse(_ text: String, column: Int) throws(ManifestError) -> ManifestNode {
            let origin = SourceLocation(file: location.file, line: position, column: column)
            return try ManifestNode.parse(text, file: location.file, path: path, origin: origin)
                ?? ManifestNode(content: .scalar(.null), location: origin, path: path)
        }
        do {
            if let sweep = try HydraSweep(valueText) {
                var values: [ManifestNode] = []
                switch sweep {
                case .choice(let items):
                    for item in items { values.append(try parse(item.text, column: valueColumn + item.offset)) }
                case .range(let numbers):
                    values = numbers.map { ManifestNode(content: .scalar($0), location: valueLocation, path: path) }
                }
                self.sweep = values
                value = values[0]
            } else {
                value = try parse(valueText, column: valueColumn)
            }
        } catch let problem as HydraSweep.Problem {
            throw fail("\(problem.message)", column: valueColumn)
        } catch let error as ManifestError {
            var error = error
            error.problem = "override '\(text)': " + error.problem
            error.expected = "a YAML value after '=' (5, 1e-3, true, name, [0, 1], {a: 1}), or a sweep: a,b or range(start,stop,step)"
            throw error
        } catch {
            throw fail("\(error)")
        }
        self.location = location
        if sweep != nil, editsManifest {
            throw fail("a sweep (\(valueText)) makes a grid axis of a config key; '\(keys[0])' is a manifest section",
                       column: valueColumn).with(expected: "a list where the manifest takes one (seeds=[0,1]), or a sweep of a config key (rank=4,8)")
        }
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

    /// Manifest edits that would add a group, an axis, a preset, a table, a profile or a
    /// dependency must say so with `+`: a misspelled name is an error, not a new group.
    func checkManifestPath(in root: ManifestNode) throws(ManifestError) {
        guard !addsKey else { return }
        var node = root[keys[0]] ?? ManifestNode(content: .mapping([]), location: root.location, path: keys[0])
        for depth in 1..<keys.count {
            let key = keys[depth]
            if let child = node[key] { node = child; continue }
            guard node.entries != nil || node.isNull, let named = Self.namedMap(keys[..<depth]) else {
                // A fixed set of keys (executor, a group's keys): the manifest's reader checks them.
                node = ManifestNode(content: .mapping([]), location: node.location, path: node.childPath(key))
                continue
            }
            let existing = node.entries?.map(\.key) ?? []
            let owner = depth == 3 ? " of group '\(keys[1])'" : ""
            let list = existing.isEmpty ? "none yet" : existing.joined(separator: ", ")
            throw error("no \(named) '\(key)'\(owner)",
                        expected: "one of the existing (\(list)), or +\(self.key)=... to add \(named == "axis" ? "an" : "a") \(named)",
                        suggestion: Spelling.closest(to: key, among: existing))
        }
    }

    /// What the keys of the mapping at `path` name, when they are names the manifest chooses.
    private static func namedMap(_ path: ArraySlice<String>) -> String? {
        let path = Array(path)
        switch path.count {
        case 1: return ["groups": "group", "presets": "preset", "tables": "table", "profiles": "profile"][path[0]]
        case 3 where path[0] == "groups": return ["grid": "axis", "zip": "zip column", "needs": "dependency"][path[2]]
        default: return nil
        }
    }

    /// An override whose value is not of a kind the manifest gives the key is a likely mistake:
    /// `rank=[4,8]` meant as a sweep, `rank=null`, `rank=four` where ranks are numbers.
    func checkValueShape(manifestKinds: Set<ValueKind>?) throws(ManifestError) {
        guard !addsKey else { return }
        let kinds = manifestKinds ?? []
        for value in sweep ?? [value] {
            let kind = ValueKind(value.json)
            if kinds.contains(kind) || (kinds.isEmpty && kind != .null) { continue }
            // A profile written in the manifest may take a key back on purpose (common.yaml's
            // `paper` profile: `backbone_weights: null`); the engine reads null as unset.
            if kind == .null, location.file != ManifestError.commandLine { continue }
            let written = value.json.canonical
            let hint: String
            switch kind {
            case .null: hint = "a value (deleting a key, Hydra's ~\(key), is not supported)"
            case .list: hint = "a single value, or a sweep over several: \(key)=" + (value.json.arrayValue ?? []).map(\.canonical).joined(separator: ",")
            default: hint = "a \(kinds.map(\.rawValue).sorted().joined(separator: " or ")) as the manifest gives '\(key)'"
            }
            let given = kinds.isEmpty ? "the manifest never gives '\(key)' a null"
                : "the manifest gives '\(key)' only \(kinds.map { $0.rawValue + "s" }.sorted().joined(separator: " and "))"
            throw error("\(sweep == nil ? "" : "\(written): ")a \(kind.rawValue) value, but \(given)", expected: hint)
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

/// Hydra's sweep syntax in an override's value: `a,b,c` (or `choice(a,b,c)`) and
/// `range(start,stop[,step])` (stop excluded, as in Python and Hydra). Other sweep functions are
/// refused with a hint rather than taken for a string.
enum HydraSweep {
    case choice([(text: String, offset: Int)])
    case range([JSONValue])

    struct Problem: Error { var message: String }

    private static let unsupported = ["glob", "interval", "shuffle", "sort", "tag", "extend_list"]

    /// Nil when `text` is a plain value (commas only inside brackets, braces or quotes).
    init?(_ text: String) throws(Problem) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for function in Self.unsupported where trimmed.hasPrefix(function + "(") {
            throw Problem(message: "Hydra's \(function)(...) sweep is not supported; list the values (a,b,c) or use range(start,stop,step)")
        }
        if trimmed.hasPrefix("range("), trimmed.hasSuffix(")") {
            let inside = trimmed.dropFirst(6).dropLast()
            self = .range(try Self.range(String(inside), written: trimmed))
            return
        }
        var body = text, shift = 0
        if trimmed.hasPrefix("choice("), trimmed.hasSuffix(")") {
            shift = text.distance(from: text.startIndex, to: text.firstIndex(of: "(")!) + 1
            body = String(text[text.index(after: text.firstIndex(of: "(")!)..<text.lastIndex(of: ")")!])
        }
        let items = Self.topLevelItems(body)
        guard items.count > 1 || shift > 0 else { return nil }
        if let empty = items.first(where: { $0.text.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw Problem(message: "empty value at column \(empty.offset + shift + 1) of the sweep '\(text)'")
        }
        self = .choice(items.map { ($0.text, $0.offset + shift) })
    }

    /// Splits at commas outside brackets, braces, parentheses and quotes, with each item's offset.
    private static func topLevelItems(_ text: String) -> [(text: String, offset: Int)] {
        var items: [(String, Int)] = [], current = "", start = 0, depth = 0
        var quote: Character?
        for (offset, character) in text.enumerated() {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if "[{(".contains(character) {
                depth += 1
            } else if "]})".contains(character) {
                depth -= 1
            } else if character == ",", depth == 0 {
                items.append((current, start))
                current = ""
                start = offset + 1
                continue
            }
            current.append(character)
        }
        items.append((current, start))
        return items
    }

    private static func range(_ arguments: String, written: String) throws(Problem) -> [JSONValue] {
        let parts = arguments.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let usage = "range(start,stop) or range(start,stop,step), numbers, stop excluded"
        guard (1...3).contains(parts.count) else { throw Problem(message: "\(written): expected \(usage)") }
        if parts.allSatisfy({ Int($0) != nil }) {
            let numbers = parts.map { Int($0)! }
            let (start, stop, step) = parts.count == 1 ? (0, numbers[0], 1)
                : (numbers[0], numbers[1], parts.count == 3 ? numbers[2] : 1)
            guard step != 0 else { throw Problem(message: "\(written): the step must not be 0") }
            let values = Array(stride(from: start, to: stop, by: step)).map(JSONValue.int)
            guard !values.isEmpty else { throw Problem(message: "\(written) is empty: no value from \(start) up to \(stop) (excluded)") }
            guard values.count <= 10_000 else { throw Problem(message: "\(written) has \(values.count) values; at most 10000") }
            return values
        }
        guard parts.allSatisfy({ Double($0) != nil }) else { throw Problem(message: "\(written): expected \(usage)") }
        let numbers = parts.map { Double($0)! }
        let (start, stop, step) = parts.count == 1 ? (0, numbers[0], 1) : (numbers[0], numbers[1], parts.count == 3 ? numbers[2] : 1)
        guard step != 0, step.isFinite, start.isFinite, stop.isFinite else { throw Problem(message: "\(written): expected \(usage) with a non-zero step") }
        // A tolerance, so range(0.1,0.4,0.1) stops before 0.4 as written, not at 0.30000000000000004's next.
        let count = Int(((stop - start) / step - 1e-9).rounded(.up))
        guard count > 0 else { throw Problem(message: "\(written) is empty: no value from \(start) up to \(stop) (excluded)") }
        guard count <= 10_000 else { throw Problem(message: "\(written) has \(count) values; at most 10000") }
        // start + i * step, not repeated addition, so 0.1 steps do not drift.
        return (0..<count).map { .double(((start + Double($0) * step) * 1e12).rounded() / 1e12) }
    }
}

extension ManifestError {
    func with(expected: String) -> ManifestError {
        var copy = self
        copy.expected = expected
        return copy
    }
}
