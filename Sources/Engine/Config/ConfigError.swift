import Foundation

/// A problem with a run's configuration, worded for the person who wrote it:
/// the file, the line of the key when it can be found, the key, and what was expected.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String

    public init(file: String, line: Int? = nil, key: String? = nil, message: String) {
        self.file = file; self.line = line; self.key = key; self.message = message
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        guard let key else { return "\(place): \(message)" }
        return "\(place): key '\(key)': \(message)"
    }
}

/// The 1-based line on which `"key"` first appears as an object key in `text`.
func lineOfKey(_ key: String, in text: String) -> Int? {
    guard let range = text.range(of: "\"\(key)\"") else { return nil }
    return text[..<range.lowerBound].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
}
