/// A manifest (or command-line override) that cannot be planned. Nothing runs when one is thrown.
///
/// `description` reads like a compiler diagnostic:
/// `experiments/a.yaml:12:7: groups.grid.grid.r_init: empty axis` followed by what was expected
/// and, for a misspelled key or name, the closest known one.
public struct ManifestError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `file` of errors in command-line overrides and `--profile`.
    public static let commandLine = "<command line>"

    /// The manifest (or included / data file) as given, or `commandLine`.
    public var file: String
    /// 1-based. For a command-line override: its position among the overrides.
    public var line: Int
    /// 1-based. For a command-line override: the column inside that argument.
    public var column: Int
    /// Dotted path of the offending key from the document root ("groups.grid.needs.pretrain").
    public var keyPath: String
    public var problem: String
    public var expected: String?
    /// The closest known key or name when the given one looks misspelled.
    public var suggestion: String?

    public init(file: String, line: Int, column: Int, keyPath: String, problem: String,
                expected: String? = nil, suggestion: String? = nil) {
        self.file = file; self.line = line; self.column = column; self.keyPath = keyPath
        self.problem = problem; self.expected = expected; self.suggestion = suggestion
    }

    public var description: String {
        var text = "\(file):\(line):\(column): "
        if !keyPath.isEmpty { text += "\(keyPath): " }
        text += problem
        if let expected { text += "\n  expected: \(expected)" }
        if let suggestion { text += "\n  did you mean '\(suggestion)'?" }
        return text
    }
}

/// "Did you mean" by edit distance.
public enum Spelling {
    /// The candidate closest to `word`, if it is close enough to be a plausible typo.
    public static func closest(to word: String, among candidates: some Sequence<String>) -> String? {
        let limit = max(1, word.count / 3)
        var best: (name: String, distance: Int)?
        for candidate in candidates where candidate != word {
            let distance = editDistance(word, candidate)
            if distance <= limit, distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        return best?.name
    }

    /// Levenshtein distance with adjacent transpositions counted as one edit, case-insensitively.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previous2[j - 2] + 1)
                }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
