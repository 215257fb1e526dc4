import Foundation
import Tensors
import Testing
@testable import Engine

@Suite struct RankShrinkerTests {
    /// A shrinker whose EMA equals `scores` exactly: one full-rank observation taken as is.
    func shrinker(importance scores: [Double], coverage: Double, minimumRank: Int = 1) -> RankShrinker {
        var shrinker = RankShrinker(rank: scores.count, options: .init(
            coverage: coverage, minimumRank: minimumRank, emaStart: .firstObservation))
        shrinker.accumulate(activeScores: scores)
        return shrinker
    }

    @Test func prefixRanksAreUniformOverOneToR() {
        let rank = 6, draws = 60_000
        let shrinker = RankShrinker(rank: rank, options: .init(coverage: 0.9))
        var generator = SeededRandom(seed: 7)
        var counts = [Int](repeating: 0, count: rank + 1)
        for _ in 0..<draws { counts[shrinker.sampleActiveRank(using: &generator)] += 1 }
        #expect(counts[0] == 0)
        let expected = Double(draws) / Double(rank)
        let sigma = (expected * (1 - 1 / Double(rank))).squareRoot()
        for b in 1...rank {
            #expect(abs(Double(counts[b]) - expected) < 4 * sigma, "b = \(b) drawn \(counts[b]) times, expected about \(expected)")
        }
    }

    @Test func rankOneAlwaysSamplesOne() {
        let shrinker = RankShrinker(rank: 1, options: .init(coverage: 0.5))
        var generator = SeededRandom(seed: 1)
        #expect((0..<100).allSatisfy { _ in shrinker.sampleActiveRank(using: &generator) == 1 })
    }

    @Test func prefixScaleFollowsDyLoRAOnlyWhenAsked() {
        let plain = RankShrinker(rank: 8, options: .init(coverage: 0.9))
        let rescaled = RankShrinker(rank: 8, options: .init(coverage: 0.9, rescalesPrefix: true))
        #expect(plain.prefixScale(active: 2) == 1)
        #expect(abs(rescaled.prefixScale(active: 2) - 2) < 1e-6)
        #expect(rescaled.prefixScale(active: 8) == 1)
    }

    @Test func componentScoresAreHalfTheAbsoluteDirectionalDerivatives() {
        // rank 2, inputs 2, outputs 3
        let a: [Float] = [1, 2,
                          3, 4]
        let gradA: [Float] = [0.5, -1,
                              1, 1]
        let b: [Float] = [1, 0,
                          2, 1,
                          -1, 3]
        let gradB: [Float] = [1, 2,
                              1, 0,
                              1, -1]
        let scores = RankShrinker.componentScores(a: a, gradA: gradA, b: b, gradB: gradB,
                                                  inputs: 2, outputs: 3, rank: 2, active: 2)
        // component 0: <A_0, dA_0> = 0.5 - 2 = -1.5; <B_0, dB_0> = 1 + 2 - 1 = 2  -> 1.75
        // component 1: <A_1, dA_1> = 3 + 4 = 7;      <B_1, dB_1> = 0 + 0 - 3 = -3 -> 5
        #expect(scores == [1.75, 5])
        let prefix = RankShrinker.componentScores(a: a, gradA: gradA, b: b, gradB: gradB,
                                                  inputs: 2, outputs: 3, rank: 2, active: 1)
        #expect(prefix == [1.75])
    }

    @Test func emaUpdatesActiveComponentsAndMaskedOnesKeepTheirScore() {
        var shrinker = RankShrinker(rank: 3, options: .init(decay: 0.9, coverage: 0.9, emaStart: .zero))
        shrinker.accumulate(activeScores: [1, 2, 4])
        expectClose(shrinker.importance, [0.1, 0.2, 0.4])
        shrinker.accumulate(activeScores: [3])       // b = 1: components 1 and 2 masked
        expectClose(shrinker.importance, [0.9 * 0.1 + 0.1 * 3, 0.2, 0.4])
        #expect(shrinker.observations == [2, 1, 1])
    }

    /// The default: a tail component drawn rarely is ranked by the mean of its scores, not by
    /// how often it ran (the plain EMA leaves it at (1 - beta) x its score after one draw).
    @Test func theDefaultRanksTheBiasCorrectedEMA() {
        var shrinker = RankShrinker(rank: 2, options: .init(decay: 0.9, coverage: 0.9))
        for _ in 0..<10 { shrinker.accumulate(activeScores: [1]) }
        shrinker.accumulate(activeScores: [1, 2])
        expectClose(shrinker.importance, [1 - pow(0.9, 11), 0.2], tolerance: 1e-12)
        expectClose(shrinker.rankingScores, [1, 2], tolerance: 1e-12)
        #expect(shrinker.coveringComponents() == [1, 0])
        var plain = RankShrinker(rank: 2, options: .init(decay: 0.9, coverage: 0.9, emaStart: .zero))
        for _ in 0..<10 { plain.accumulate(activeScores: [1]) }
        plain.accumulate(activeScores: [1, 2])
        #expect(plain.coveringComponents() == [0, 1])
    }

    @Test func firstObservationStartIsTakenAsIs() {
        var shrinker = RankShrinker(rank: 2, options: .init(decay: 0.5, coverage: 0.9, emaStart: .firstObservation))
        shrinker.accumulate(activeScores: [4])
        shrinker.accumulate(activeScores: [2, 6])
        expectClose(shrinker.importance, [3, 6])
    }

    @Test func knownImportanceGivesExpectedRank() {
        let s = shrinker(importance: [0.1, 0.5, 0.05, 0.3, 0.05], coverage: 0.8)
        #expect(s.coveringComponents() == [1, 3])
        // Just above 0.8 needs the next component too (0.1, index 0).
        let stricter = shrinker(importance: [0.1, 0.5, 0.05, 0.3, 0.05], coverage: 0.81)
        #expect(stricter.coveringComponents() == [1, 3, 0])
        // rho = 1 keeps every component with a positive score... and the zero-score ones are erased.
        let full = shrinker(importance: [0.2, 0, 0.8], coverage: 1)
        #expect(full.coveringComponents() == [2, 0])
    }

    @Test func coverageNeverDropsBelowTheMinimumRank() {
        #expect(shrinker(importance: [0, 0, 0, 0], coverage: 0.9).coveringComponents() == [0])
        #expect(shrinker(importance: [1, 0, 0, 0], coverage: 0.5, minimumRank: 3).coveringComponents() == [0, 1, 2])
    }

    /// Brute force: no smaller set of components reaches rho x total, and the returned set does.
    @Test(arguments: [0.5, 0.7, 0.9, 0.95])
    func coverageKeepsTheSmallestCoveringSet(rho: Double) {
        var generator = SeededRandom(seed: UInt64(rho * 1000))
        for _ in 0..<40 {
            let rank = Int.random(in: 1...9, using: &generator)
            let scores = (0..<rank).map { _ in generator.uniform(0...1) }
            let kept = shrinker(importance: scores, coverage: rho).coveringComponents()
            let target = rho * scores.reduce(0, +)
            #expect(Set(kept).count == kept.count)
            #expect(kept.map { scores[$0] }.reduce(0, +) >= target * (1 - 1e-12))
            for subset in 0..<(1 << rank) where subset.nonzeroBitCount < kept.count {
                let sum = (0..<rank).filter { subset & (1 << $0) != 0 }.map { scores[$0] }.reduce(0, +)
                #expect(sum < target, "a set of \(subset.nonzeroBitCount) < \(kept.count) components covers rho")
            }
            // most important first
            #expect(zip(kept, kept.dropFirst()).allSatisfy { scores[$0] >= scores[$1] })
        }
    }

    @Test func shrinkRenumbersKeptComponentsAndForgetsTheRest() {
        var s = shrinker(importance: [0.1, 0.5, 0.05, 0.3, 0.05], coverage: 0.8)
        let result = s.shrink()
        #expect(result == RankShrink(previousRank: 5, kept: [1, 3]))
        #expect(result.erased == 3)
        #expect(s.rank == 2)
        expectClose(s.importance, [0.5, 0.3])
        // The next coverage step works on the shrunk adapter.
        var generator = SeededRandom(seed: 3)
        #expect((0..<50).allSatisfy { _ in (1...2).contains(s.sampleActiveRank(using: &generator)) })
    }

    @Test func erasureShrinksParametersAndMACsAndKeepsTheKeptUpdate() {
        let inputs = 5, outputs = 4, rank = 6, tokens = 10
        var generator = SeededRandom(seed: 11)
        let factors = LowRankFactors(inputs: inputs, outputs: outputs, rank: rank,
                                     a: generator.floats(rank * inputs), b: generator.floats(outputs * rank))
        let kept = [4, 1, 2]
        let shrunk = factors.keeping(components: kept)
        #expect(shrunk.rank == 3)
        #expect(factors.parameterCount == 6 * (5 + 4))
        #expect(shrunk.parameterCount == 3 * (5 + 4))
        #expect(factors.multiplyAccumulates(tokens: tokens) == 10 * 6 * 9)
        #expect(shrunk.multiplyAccumulates(tokens: tokens) == 10 * 3 * 9)
        // B' A' equals the sum of the kept rank-1 updates B_i A_i of the original.
        for o in 0..<outputs {
            for i in 0..<inputs {
                var expected: Float = 0
                for c in kept { expected += factors.b[o * rank + c] * factors.a[c * inputs + i] }
                var actual: Float = 0
                for c in 0..<shrunk.rank { actual += shrunk.b[o * shrunk.rank + c] * shrunk.a[c * inputs + i] }
                #expect(abs(actual - expected) < 1e-5)
            }
        }
        // Component 0 of the shrunk factors is the original component 4.
        #expect(Array(shrunk.a[0..<inputs]) == Array(factors.a[4 * inputs ..< 5 * inputs]))
        #expect((0..<outputs).allSatisfy { shrunk.b[$0 * 3] == factors.b[$0 * rank + 4] })
    }
}
