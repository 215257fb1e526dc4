import Foundation

/// Mean, sample standard deviation (n - 1) and count of a cell's values, one value per seed.
public struct Summary: Hashable, Sendable {
    public var mean: Double
    /// nil for a single value: one seed says nothing about the spread.
    public var std: Double?
    public var n: Int

    public init(mean: Double, std: Double?, n: Int) {
        self.mean = mean; self.std = std; self.n = n
    }

    /// nil when there are no values.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let n = values.count
        let mean = values.reduce(0, +) / Double(n)
        self.mean = mean
        self.n = n
        if n > 1 {
            let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            std = (squares / Double(n - 1)).squareRoot()
        } else {
            std = nil
        }
    }
}
