import RunContract

/// How the engine reads a config's `JSONValue`s: a number is a number, written `1` or `1.0`.
extension JSONValue {
    /// An integral number of either case (`2`, `2.0`), as an `Int`.
    var integerValue: Int? { doubleValue.map { Int($0) } }

    /// The integral numbers of an array (other items are left out; `ConfigKey.check` refused them).
    var integerValues: [Int]? { arrayValue.map { $0.compactMap(\.integerValue) } }

    /// The value with every number in one spelling: an integral number below 1e15 as `.int`,
    /// any other as `.double` (the engine's number, a Double, encoded as JSONEncoder does).
    var engineNumbers: JSONValue {
        switch self {
        case .int(let value): return Self.number(Double(value))
        case .double(let value): return Self.number(value)
        case .array(let items): return .array(items.map(\.engineNumbers))
        case .object(let members): return .object(members.mapValues(\.engineNumbers))
        case .null, .bool, .string: return self
        }
    }

    private static func number(_ value: Double) -> JSONValue {
        value == value.rounded() && abs(value) < 1e15 ? .int(Int(value)) : .double(value)
    }
}
