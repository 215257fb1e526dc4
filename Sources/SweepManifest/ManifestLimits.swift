/// How large a manifest may make a plan, checked before the work it bounds, so a hostile or
/// mistyped manifest is refused in milliseconds instead of exhausting memory. (What YAML aliases
/// may copy has a fixed limit: `AliasExpansion.defaultLimit`.)
public struct ManifestLimits: Sendable, Equatable {
    /// Runs of the plan before exclusion (`sweep plan --max-runs N` raises it). A million runs
    /// plan in seconds; a product of axes can reach billions in one line.
    public var maxRuns: Int
    public static let defaultMaxRuns = 1_000_000

    public init(maxRuns: Int = defaultMaxRuns) {
        self.maxRuns = maxRuns
    }

    func tooManyRuns(_ count: Int, at node: ManifestNode, what: String) -> ManifestError {
        node.error("\(what) makes \(count == .max ? "more than 2^63" : Self.grouped(count)) runs, more than the limit of "
                   + Self.grouped(maxRuns),
                   expected: "at most \(Self.grouped(maxRuns)) runs (raise the limit with --max-runs N)")
    }

    /// 1000000 -> "1,000,000".
    static func grouped(_ number: Int) -> String {
        let digits = Array(String(number))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return out
    }
}

extension Int {
    func addingSaturating(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }

    func multipliedSaturating(by other: Int) -> Int {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? .max : product
    }
}
