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
