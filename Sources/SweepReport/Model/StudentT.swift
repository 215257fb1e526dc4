import Foundation

/// Student's t distribution, for the paired tests of `sweep compare` and the ties of a table's
/// bold. Computed rather than tabulated so p-values, any quantile (95 % intervals, 80 % power)
/// and Welch's fractional degrees of freedom come from one piece of code.
enum StudentT {
    /// P(|T| ≥ |t|) with `degreesOfFreedom` (> 0, not necessarily whole).
    static func twoSidedP(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard t.isFinite else { return t.isNaN ? .nan : 0 }
        return regularizedBeta(df / (df + t * t), a: df / 2, b: 0.5)
    }

    /// P(T ≤ t).
    static func cdf(_ t: Double, degreesOfFreedom df: Double) -> Double {
        let tail = twoSidedP(t, degreesOfFreedom: df) / 2
        return t >= 0 ? 1 - tail : tail
    }

    /// The t with P(T ≤ t) = `probability`, by bisection on the cdf: a few dozen evaluations, and
    /// as exact as the cdf (the printed tables agree to their 3 decimals).
    static func quantile(_ probability: Double, degreesOfFreedom df: Double) -> Double {
        precondition(probability > 0 && probability < 1, "a quantile needs 0 < p < 1")
        if probability < 0.5 { return -quantile(1 - probability, degreesOfFreedom: df) }
        var (low, high) = (0.0, 1.0)
        while cdf(high, degreesOfFreedom: df) < probability { (low, high) = (high, high * 2) }
        for _ in 0..<200 where high - low > 1e-12 * max(1, high) {
            let middle = (low + high) / 2
            if cdf(middle, degreesOfFreedom: df) < probability { low = middle } else { high = middle }
        }
        return (low + high) / 2
    }

    /// I_x(a, b), the regularized incomplete beta function, by its continued fraction (modified
    /// Lentz), on the side of x where it converges fast.
    static func regularizedBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let front = exp(logPowers - logBeta)
        if x < (a + 1) / (a + b + 2) { return front * continuedFraction(x, a: a, b: b) / a }
        return 1 - front * continuedFraction(1 - x, a: b, b: a) / b
    }

    private static func continuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var result = d
        for m in 1...300 {
            let m = Double(m)
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + even * d; if abs(d) < tiny { d = tiny }
            c = 1 + even / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            result *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + odd * d; if abs(d) < tiny { d = tiny }
            c = 1 + odd / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            result *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return result
    }
}

/// Holm-Bonferroni: p-values adjusted for the number of tests in one family, so "adjusted p <
/// 0.05" keeps the chance of any false "beyond noise" in the family at 5 % (about 20 tests at
/// 95 % give one false positive by chance alone). Uniformly more powerful than Bonferroni.
enum Holm {
    /// The adjusted p-value of each input, in the input's order: the k-th smallest p times
    /// (m − k + 1), made non-decreasing along the sorted order, capped at 1.
    static func adjust(_ pValues: [Double]) -> [Double] {
        let order = pValues.indices.sorted { (pValues[$0], $0) < (pValues[$1], $1) }
        var adjusted = [Double](repeating: 1, count: pValues.count)
        var running = 0.0
        for (rank, index) in order.enumerated() {
            running = max(running, min(1, Double(pValues.count - rank) * pValues[index]))
            adjusted[index] = running
        }
        return adjusted
    }
}
