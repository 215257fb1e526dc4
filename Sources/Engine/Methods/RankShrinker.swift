import Foundation

/// FAAR's Performance-Driven Rank Shrinking (PDRS) for one adapter: prefix rank sampling per
/// forward pass, an EMA of each rank-1 component's loss sensitivity, and the coverage rule that
/// erases the least important components at every epoch end.
///
/// The shrinker holds only the bookkeeping; the adapter owns the factors and applies the
/// `RankShrink` it returns (see `LowRankFactors.keeping(components:)`).
public struct RankShrinker: Sendable, Equatable {
    public struct Options: Sendable, Equatable {
        /// EMA decay beta; FAAR does not give it.
        public var decay: Double
        /// rho: the share of the total EMA score the kept components must cover.
        public var coverage: Double
        /// The coverage rule never shrinks below this rank.
        public var minimumRank: Int
        /// DyLoRA's rescaling of an active prefix of b components by sqrt(r / b); FAAR is silent.
        public var rescalesPrefix: Bool
        public var emaStart: EMAStart

        public init(decay: Double = 0.9, coverage: Double, minimumRank: Int = 1,
                    rescalesPrefix: Bool = false, emaStart: EMAStart = .biasCorrected) {
            self.decay = decay
            self.coverage = coverage
            self.minimumRank = minimumRank
            self.rescalesPrefix = rescalesPrefix
            self.emaStart = emaStart
        }
    }

    /// Where a component's EMA starts before its first score, and what the coverage rule ranks.
    public enum EMAStart: String, Sendable, Equatable, CaseIterable {
        /// ema <- beta * 0 + (1 - beta) * s: the textbook recursion (AdaLoRA's choice). Component i
        /// is active with probability (r - i) / r, so after one epoch the tail's EMA still holds
        /// mostly its zero start, and the first shrink follows how often it was drawn.
        case zero
        /// The first score is taken as is. A component's first score is always 0 (B starts at 0
        /// and a masked component's B gets no update, so both halves of its score vanish), so
        /// this runs exactly as `zero` does: kept for old configs.
        case firstObservation = "first_observation"
        /// The textbook recursion, and the coverage rule ranks ema / (1 - beta^n), n the scores
        /// the component received (Adam's bias correction): a weighted mean of its own scores,
        /// whatever how often it was drawn (the default: FAAR ranks by importance, eq. 5-6).
        case biasCorrected = "bias_corrected"
    }

    public let options: Options
    /// r_l: the components currently alive (index 0 ..< rank).
    public private(set) var rank: Int
    /// The EMA score of each live component.
    public private(set) var importance: [Double]
    /// How many scores each live component has received.
    public private(set) var observations: [Int]

    public init(rank: Int, options: Options) {
        precondition(rank >= 1, "an adapter needs at least one rank-1 component")
        precondition((0...1).contains(options.decay), "EMA decay must lie in [0, 1]")
        precondition(options.coverage > 0 && options.coverage <= 1, "coverage rho must lie in (0, 1]")
        precondition(options.minimumRank >= 1, "the minimum rank is at least 1")
        self.options = options
        self.rank = rank
        self.importance = Array(repeating: 0, count: rank)
        self.observations = Array(repeating: 0, count: rank)
    }

    /// A shrinker resumed from a checkpoint: its rank is the number of scores.
    public init(restoring options: Options, importance: [Double], observations: [Int]) {
        precondition(!importance.isEmpty && importance.count == observations.count, "PDRS state of a different shape")
        self.options = options
        rank = importance.count
        self.importance = importance
        self.observations = observations
    }

    // MARK: rank masking

    /// b ~ U{1, ..., r_l}: how many leading components the next training forward pass uses.
    public func sampleActiveRank(using generator: inout some RandomNumberGenerator) -> Int {
        Int(generator.next(upperBound: UInt64(rank))) + 1
    }

    /// The factor applied to the low-rank update when `active` of `rank` components are on.
    public func prefixScale(active: Int) -> Float {
        options.rescalesPrefix ? Float((Double(rank) / Double(active)).squareRoot()) : 1
    }

    // MARK: importance

    /// s_i = 1/2 (|<A_i, dL/dA_i>| + |<B_i, dL/dB_i>|) for the first `active` components, where
    /// A_i is row i of A (rank x inputs, row-major) and B_i column i of B (outputs x rank).
    public static func componentScores(
        a: [Float], gradA: [Float], b: [Float], gradB: [Float],
        inputs: Int, outputs: Int, rank: Int, active: Int
    ) -> [Double] {
        precondition(a.count == rank * inputs && gradA.count == a.count, "A and dL/dA must be rank x inputs")
        precondition(b.count == outputs * rank && gradB.count == b.count, "B and dL/dB must be outputs x rank")
        precondition((0...rank).contains(active), "active prefix out of range")
        var scores = [Double](repeating: 0, count: active)
        for i in 0..<active {
            var alongA = 0.0
            for j in 0..<inputs { alongA += Double(a[i * inputs + j]) * Double(gradA[i * inputs + j]) }
            var alongB = 0.0
            for o in 0..<outputs { alongB += Double(b[o * rank + i]) * Double(gradB[o * rank + i]) }
            scores[i] = 0.5 * (abs(alongA) + abs(alongB))
        }
        return scores
    }

    /// Folds one backward pass's scores of the active prefix into the EMA; components beyond the
    /// prefix were masked and keep their EMA.
    public mutating func accumulate(activeScores scores: [Double]) {
        precondition(scores.count <= rank, "more scores than live components")
        let beta = options.decay
        for (i, score) in scores.enumerated() {
            if observations[i] == 0 && options.emaStart == .firstObservation {
                importance[i] = score
            } else {
                importance[i] = beta * importance[i] + (1 - beta) * score
            }
            observations[i] += 1
        }
    }

    // MARK: coverage

    /// What the coverage rule ranks: the EMA, bias-corrected under `.biasCorrected` (0 for a
    /// component never scored).
    public var rankingScores: [Double] {
        guard options.emaStart == .biasCorrected else { return importance }
        return zip(importance, observations).map { ema, n in n > 0 ? ema / (1 - pow(options.decay, Double(n))) : 0 }
    }

    /// The components the coverage rule keeps, most important first: the smallest k (at least
    /// `minimumRank`) whose ranking scores, sorted in descending order, add up to rho x total.
    /// Ties keep the lower index first, so the result is deterministic.
    public func coveringComponents() -> [Int] {
        let importance = rankingScores
        let order = importance.indices.sorted { importance[$0] > importance[$1] || (importance[$0] == importance[$1] && $0 < $1) }
        let target = options.coverage * importance.reduce(0, +)
        var kept = 0
        var covered = 0.0
        // The tolerance keeps a set whose sum equals the target up to rounding from being rejected.
        let slack = 1e-12 * max(1, target)
        while kept < order.count && (kept < options.minimumRank || covered + slack < target) {
            covered += importance[order[kept]]
            kept += 1
        }
        return Array(order.prefix(kept))
    }

    /// Applies the coverage rule for good: the kept components are renumbered 0..<k (most
    /// important first) with their EMA and counts, the rest are forgotten.
    @discardableResult
    public mutating func shrink() -> RankShrink {
        let kept = coveringComponents()
        let shrink = RankShrink(previousRank: rank, kept: kept)
        importance = kept.map { importance[$0] }
        observations = kept.map { observations[$0] }
        rank = kept.count
        return shrink
    }
}

/// The outcome of one coverage step: old component `kept[i]` becomes component i.
public struct RankShrink: Sendable, Equatable {
    public let previousRank: Int
    public let kept: [Int]
    public var rank: Int { kept.count }
    public var erased: Int { previousRank - kept.count }
}
