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

/// The closest of `candidates` to `word` by edit distance, when it is close enough to be a typo.
func closestMatch(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(2, word.count / 3) ? best.0 : nil
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    var previous = Array(0...b.count)
    var current = previous
    for i in 1...a.count {
        current[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// The 1-based line on which `"key"` first appears as an object key in `text`.
func lineOfKey(_ key: String, in text: String) -> Int? {
    guard let range = text.range(of: "\"\(key)\"") else { return nil }
    return text[..<range.lowerBound].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
}
