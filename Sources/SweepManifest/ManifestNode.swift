import Foundation
import RunContract
import SweepCore
import Yams

/// Where a node came from: a file position, or a command-line override (see `ManifestError`).
struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    var file: String
    var line: Int
    var column: Int

    var description: String { "\(file):\(line):\(column)" }
}

/// A YAML node that remembers its file, position and key path, so every error found after
/// parsing (wrong type, unknown key, inconsistent grid) can still point at the source.
/// Scalars are already typed (YAML 1.2 core schema: only true/false are booleans).
struct ManifestNode: Sendable {
    enum Content: Sendable {
        case scalar(JSONValue)
        case sequence([ManifestNode])
        case mapping([Entry])
    }

    struct Entry: Sendable {
        var key: String
        var keyLocation: SourceLocation
        var value: ManifestNode
    }

    var content: Content
    var location: SourceLocation
    /// Dotted path from the document root, with `[i]` for list items.
    var path: String
    /// A scalar as written in the file ("0.60", where the number is 0.6); nil for other nodes and overrides.
    var written: String? = nil

    func childPath(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    // MARK: errors

    func error(_ problem: String, expected: String? = nil, suggestion: String? = nil) -> ManifestError {
        ManifestError(file: location.file, line: location.line, column: location.column, keyPath: path,
                      problem: problem, expected: expected, suggestion: suggestion)
    }

    /// What this node is, for "found ..." in messages.
    var kindDescription: String {
        switch content {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let value):
            switch value {
            case .null: return "nothing (null)"
            case .bool(let b): return "the boolean \(b)"
            case .int, .double: return "the number \(value.canonical)"
            case .string(let s): return "the string '\(s)'"
            default: return "a value"
            }
        }
    }

    func typeError(expected: String) -> ManifestError {
        error("expected \(expected), found \(kindDescription)", expected: expected)
    }

    // MARK: typed access

    var entries: [Entry]? { if case .mapping(let e) = content { return e } else { return nil } }
    var items: [ManifestNode]? { if case .sequence(let i) = content { return i } else { return nil } }
    var scalar: JSONValue? { if case .scalar(let v) = content { return v } else { return nil } }
    var isNull: Bool { if case .scalar(.null) = content { return true } else { return false } }

    subscript(key: String) -> ManifestNode? { entries?.first { $0.key == key }?.value }

    func mapping(expected: String = "a mapping") throws(ManifestError) -> [Entry] {
        guard let entries else { throw typeError(expected: expected) }
        return entries
    }

    func sequence(expected: String = "a list") throws(ManifestError) -> [ManifestNode] {
        guard let items else { throw typeError(expected: expected) }
        return items
    }

    func string(expected: String = "a string") throws(ManifestError) -> String {
        switch scalar {
        case .string(let s)?: return s
        // Unquoted numbers and booleans are fine where a name is expected ("layout: 2").
        case .int?, .double?, .bool?: return scalar!.canonical
        default: throw typeError(expected: expected)
        }
    }

    func int(expected: String = "an integer", minimum: Int? = nil) throws(ManifestError) -> Int {
        guard case .int(let value)? = scalar else { throw typeError(expected: expected) }
        if let minimum, value < minimum { throw error("\(value) is out of range", expected: expected) }
        return value
    }

    func bool(expected: String = "true or false") throws(ManifestError) -> Bool {
        guard case .bool(let value)? = scalar else { throw typeError(expected: expected) }
        return value
    }

    /// A list of strings; a single string is accepted as a list of one.
    func strings(expected: String = "a list of strings") throws(ManifestError) -> [String] {
        if case .scalar(.string(let s)) = content { return [s] }
        return try sequence(expected: expected).map { node throws(ManifestError) in try node.string(expected: expected) }
    }

    /// Rejects keys outside `allowed`, suggesting the closest allowed key.
    func checkKeys(_ allowed: [String], in what: String) throws(ManifestError) {
        for entry in try mapping(expected: "a mapping (\(what))") where !allowed.contains(entry.key) {
            throw ManifestError(
                file: entry.keyLocation.file, line: entry.keyLocation.line, column: entry.keyLocation.column,
                keyPath: childPath(entry.key), problem: "unknown key '\(entry.key)' in \(what)",
                expected: "one of " + allowed.joined(separator: ", "),
                suggestion: Spelling.closest(to: entry.key, among: allowed))
        }
    }

    /// The first node, depth first, that satisfies `predicate`.
    func first(where predicate: (ManifestNode) -> Bool) -> ManifestNode? {
        if predicate(self) { return self }
        switch content {
        case .scalar: return nil
        case .sequence(let items):
            for item in items { if let found = item.first(where: predicate) { return found } }
        case .mapping(let entries):
            for entry in entries { if let found = entry.value.first(where: predicate) { return found } }
        }
        return nil
    }

    /// The value as JSON, for configuration values.
    var json: JSONValue {
        switch content {
        case .scalar(let value): return value
        case .sequence(let items): return .array(items.map(\.json))
        case .mapping(let entries):
            var object: [String: JSONValue] = [:]
            for entry in entries { object[entry.key] = entry.value.json }
            return .object(object)
        }
    }

    // MARK: editing (includes, overrides)

    /// This mapping with `other`'s entries laid over it: mappings merge key by key, anything
    /// else in `other` replaces what was here.
    func merging(_ other: ManifestNode) -> ManifestNode {
        guard var entries, let overlay = other.entries else { return other }
        for entry in overlay {
            if let index = entries.firstIndex(where: { $0.key == entry.key }) {
                entries[index].value = entries[index].value.merging(entry.value)
            } else {
                entries.append(entry)
            }
        }
        var merged = self
        merged.content = .mapping(entries)
        return merged
    }

    /// This node with `value` put at `keys` (replacing whatever was there), creating mappings
    /// on the way. Used for overrides of the manifest's own structure (`seeds=[0]`).
    func setting(_ keys: ArraySlice<String>, to value: ManifestNode, location: SourceLocation,
                 display: String) throws(ManifestError) -> ManifestNode {
        guard let key = keys.first else { return value.relocated(path: path) }
        guard var entries = entries ?? (isNull ? [] : nil) else {
            throw ManifestError(file: location.file, line: location.line, column: location.column,
                                keyPath: path, problem: "cannot set '\(display)': '\(path)' is \(kindDescription), not a mapping",
                                expected: "a path through mappings")
        }
        let childPath = childPath(key)
        if let index = entries.firstIndex(where: { $0.key == key }) {
            entries[index].value = try entries[index].value.setting(keys.dropFirst(), to: value,
                                                                    location: location, display: display)
        } else {
            let empty = ManifestNode(content: .mapping([]), location: location, path: childPath)
            entries.append(Entry(key: key, keyLocation: location,
                                 value: try empty.setting(keys.dropFirst(), to: value, location: location, display: display)))
        }
        var result = self
        result.content = .mapping(entries)
        return result
    }

    /// The same node with key paths rewritten as if it sat at `path`.
    func relocated(path newPath: String) -> ManifestNode {
        var node = self
        node.path = newPath
        switch content {
        case .scalar: break
        case .sequence(let items):
            node.content = .sequence(items.enumerated().map { $1.relocated(path: "\(newPath)[\($0)]") })
        case .mapping(let entries):
            node.content = .mapping(entries.map { entry in
                var entry = entry
                entry.value = entry.value.relocated(path: newPath.isEmpty ? entry.key : newPath + "." + entry.key)
                return entry
            })
        }
        return node
    }
}

// MARK: - Parsing

extension ManifestNode {
    /// YAML 1.2 core schema: `yes`/`no`/`on`/`off` stay strings (a backbone named "no" is not
    /// false), and dates stay strings.
    private static let resolver: Resolver = {
        // The pattern is a constant; a failure here is a programming error.
        let bool = try! Resolver.Rule(.bool, "^(?:true|True|TRUE|false|False|FALSE)$")
        return Resolver.default.removing(.timestamp).replacing(bool)
    }()

    /// Parses YAML text. `file` is how errors name the source; `origin` shifts positions
    /// (used for values inside command-line overrides).
    static func parse(_ text: String, file: String, path: String = "",
                      origin: SourceLocation? = nil) throws(ManifestError) -> ManifestNode? {
        func place(line: Int, column: Int) -> SourceLocation {
            guard let origin else { return SourceLocation(file: file, line: line, column: column) }
            // An override is one line: a problem found past it (an unclosed list) is at its end.
            let firstLineLength = text.prefix { $0 != "\n" }.count
            return SourceLocation(file: origin.file, line: origin.line,
                                  column: origin.column + (line == 1 ? column - 1 : firstLineLength))
        }
        func place(_ mark: Mark?) -> SourceLocation { place(line: mark?.line ?? 1, column: mark?.column ?? 1) }
        // Before composing: Yams would compose (and hash) every copy an alias makes.
        try AliasExpansion.check(text, file: file) { line, column in place(line: line, column: column) }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, resolver)
        } catch let yamlError as YamlError {
            var problem = "invalid YAML"
            var location = place(nil)
            switch yamlError {
            case .scanner(let context, let detail, let mark, _), .parser(let context, let detail, let mark, _),
                 .composer(let context, let detail, let mark, _):
                problem = "invalid YAML: " + detail + (context.map { " (\($0.text) at line \($0.mark.line))" } ?? "")
                location = place(mark)
            case .duplicatedKeysInMapping(let duplicates, let context):
                problem = "duplicate key " + duplicates.map { "'\($0)'" }.joined(separator: ", ") + " in a mapping"
                location = place(context.mark)
            case .reader(let detail, _, _, _):
                problem = "unreadable text: " + detail
            default:
                problem = "invalid YAML: \(yamlError)"
            }
            throw ManifestError(file: location.file, line: location.line, column: location.column,
                                keyPath: path, problem: problem, expected: "well-formed YAML")
        } catch {
            throw ManifestError(file: file, line: 1, column: 1, keyPath: path, problem: "invalid YAML: \(error)")
        }
        guard let root else { return nil }
        return try convert(root, path: path, place: place)
    }

    private static func convert(_ node: Node, path: String,
                                place: (Mark?) -> SourceLocation) throws(ManifestError) -> ManifestNode {
        let location = place(node.mark)
        switch node {
        case .scalar(let scalar):
            let value = value(of: node, scalar: scalar)
            let written = scalar.string
            func refuse(_ problem: String) -> ManifestError {
                ManifestError(file: location.file, line: location.line, column: location.column, keyPath: path,
                              problem: problem,
                              expected: "a finite number that fits in 64 bits (config.json has no NaN or infinity), or a quoted string")
            }
            if case .double(let number) = value, !number.isFinite {
                // JSON has no NaN or infinity: canonical JSON would write both as null, one run for two.
                let spelled = written.lowercased().contains("inf") || written.lowercased().contains("nan")
                throw refuse("'\(written)' is not a finite number" + (spelled ? "" : " (it overflows a 64-bit float)"))
            }
            if case .double = value, resolver.resolveTag(of: node) == .int {
                throw refuse("the integer \(written) does not fit in 64 bits")
            }
            return ManifestNode(content: .scalar(value), location: location, path: path, written: scalar.string)
        case .alias:
            // compose() already substitutes anchors; an unresolved alias cannot reach here.
            throw ManifestError(file: location.file, line: location.line, column: location.column,
                                keyPath: path, problem: "unresolved YAML alias")
        case .sequence(let sequence):
            var items: [ManifestNode] = []
            for (index, item) in sequence.enumerated() {
                items.append(try convert(item, path: "\(path)[\(index)]", place: place))
            }
            return ManifestNode(content: .sequence(items), location: location, path: path)
        case .mapping(let mapping):
            var entries: [Entry] = []
            var merged: [Entry] = []
            for (keyNode, valueNode) in mapping {
                let keyLocation = place(keyNode.mark)
                guard case .scalar(let keyScalar) = keyNode else {
                    throw ManifestError(file: keyLocation.file, line: keyLocation.line, column: keyLocation.column,
                                        keyPath: path, problem: "a mapping key must be a plain name, found a \(keyNode.mapping != nil ? "mapping" : "list")",
                                        expected: "a string key")
                }
                let key = keyScalar.string
                let childPath = path.isEmpty ? key : path + "." + key
                if resolver.resolveTag(of: keyNode) == .merge {
                    // `<<: *anchor` (or a list of anchors): the anchored mappings' entries, under ours.
                    let sources = valueNode.sequence.map(Array.init) ?? [valueNode]
                    for source in sources {
                        let converted = try convert(source, path: path, place: place)
                        guard let sourceEntries = converted.entries else {
                            throw converted.typeError(expected: "a mapping (or a list of mappings) to merge with <<")
                        }
                        merged += sourceEntries
                    }
                    continue
                }
                entries.append(Entry(key: key, keyLocation: keyLocation,
                                     value: try convert(valueNode, path: childPath, place: place)))
            }
            for entry in merged where !entries.contains(where: { $0.key == entry.key }) {
                entries.append(entry)
            }
            return ManifestNode(content: .mapping(entries), location: location, path: path)
        }
    }

    private static func value(of node: Node, scalar: Node.Scalar) -> JSONValue {
        switch resolver.resolveTag(of: node) {
        case .null: return .null
        case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
        case .int:
            if let int = node.int { return .int(int) }
            return node.float.map(JSONValue.double) ?? .string(scalar.string)
        case .float: return node.float.map(JSONValue.double) ?? .string(scalar.string)
        default: return .string(scalar.string)
        }
    }
}
