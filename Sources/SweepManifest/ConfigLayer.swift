import RunContract
import SweepCore

/// One `key: value` of a configuration layer; dotted keys address nested mappings
/// (`optimizer.lr: 1e-3` sets `lr` inside `optimizer`).
struct Assignment: Sendable {
    var path: [String]
    var value: JSONValue
    /// Where it was written ("m.yaml:12:7", "override 'lr=1'"), for messages about a run's values.
    var origin: String? = nil

    var key: String { path.joined(separator: ".") }

    /// Where the value at `key` came from, given the assignments a run received in order: the
    /// last that set the key or a mapping holding it, else the last that set a key inside it.
    static func origin(of key: [String], among assignments: [Assignment]) -> String? {
        if let last = assignments.last(where: { key.starts(with: $0.path) }) { return last.origin }
        return assignments.last(where: { $0.path.starts(with: key) })?.origin
    }
}

/// Planning again to learn where some runs' values came from (`ManifestLoader.origins`).
final class OriginTrace {
    let runs: Set<RunID>
    /// The assignments each traced run received, in the order they were applied.
    var assignments: [RunID: [Assignment]] = [:]

    init(runs: Set<RunID>) { self.runs = runs }
}

/// A condition on a run's configuration: every key must match (see `JSONValue.matches`).
struct ConfigPattern: Sendable {
    var requirements: [Assignment]

    func matches(_ config: JSONValue) -> Bool {
        requirements.allSatisfy { $0.value.matches(config.value(at: $0.path[...])) }
    }

    var summary: String { requirements.map { "\($0.key)=\($0.value.canonical)" }.joined(separator: ", ") }
}

/// Config keys the manifest itself sets on every run; writing them directly is an error.
enum ReservedKey {
    static let seed = ReservedConfigKey.seed
    static let profile = ReservedConfigKey.profile
    static let needs = ReservedConfigKey.needs
    static let all: Set<String> = [seed, profile, needs]

    static let explanation = [
        seed: "seeds are listed under `seeds:` (each seed becomes a run with config key `seed`)",
        profile: "`--profile NAME` sets config key `profile`",
        needs: "dependencies are declared under a group's `needs:`",
    ]
}

extension JSONValue {
    /// Sets `value` at `path`; a mapping laid over a mapping merges key by key.
    mutating func assign(_ path: ArraySlice<String>, _ value: JSONValue) {
        guard let key = path.first else {
            self = merged(with: value)
            return
        }
        var members = objectValue ?? [:]
        self = .null // drop our reference so `members` is uniquely owned while we edit it
        var child = members.removeValue(forKey: key) ?? .null
        child.assign(path.dropFirst(), value)
        members[key] = child
        self = .object(members)
    }

    func merged(with overlay: JSONValue) -> JSONValue {
        guard case .object(var members) = self, case .object(let additions) = overlay else { return overlay }
        for (key, value) in additions {
            members[key] = members[key].map { $0.merged(with: value) } ?? value
        }
        return .object(members)
    }

    func value(at path: ArraySlice<String>) -> JSONValue? {
        var current = self
        for key in path {
            guard let next = current[key] else { return nil }
            current = next
        }
        return current
    }

    /// How manifests compare a pattern with a configuration value: equal (1 matches 1.0), or,
    /// when the pattern is a list, equal to the list or to any of its items
    /// (`method: [faar, mtlora]` matches either method).
    func matches(_ actual: JSONValue?) -> Bool {
        guard let actual else { return self == .null }
        if Self.loosely(self, actual) { return true }
        if case .array(let options) = self { return options.contains { Self.loosely($0, actual) } }
        return false
    }

    private static func loosely(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { loosely($0, $1) }
        default: return a == b
        }
    }
}
