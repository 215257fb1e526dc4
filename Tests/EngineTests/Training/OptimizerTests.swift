import Foundation
import Testing
@testable import Engine

@Test func adamWMatchesTheUpdateByHand() {
    var values: [Float] = [1, -2], gradient: [Float] = [0.5, 0.25]
    let optimizer = AdamW(weightDecay: 0.1)
    values.withUnsafeMutableBufferPointer { x in
        gradient.withUnsafeMutableBufferPointer { g in
            let slot = ParameterSlot(name: "w", values: x, gradient: g, decays: true)
            optimizer.update([slot], learningRate: 0.01)
            optimizer.update([slot], learningRate: 0.01)
        }
    }
    // By hand, in Double: two steps with the same gradient.
    func expected(_ x0: Double, _ g: Double) -> Double {
        var x = x0, m = 0.0, v = 0.0
        for t in 1...2 {
            x *= 1 - 0.01 * 0.1
            m = 0.9 * m + 0.1 * g; v = 0.999 * v + 0.001 * g * g
            let mHat = m / (1 - pow(0.9, Double(t))), vHat = v / (1 - pow(0.999, Double(t)))
            x -= 0.01 * mHat / (vHat.squareRoot() + 1e-8)
        }
        return x
    }
    #expect(abs(Double(values[0]) - expected(1, 0.5)) < 1e-6)
    #expect(abs(Double(values[1]) - expected(-2, 0.25)) < 1e-6)
    #expect(optimizer.step == 2)
}

@Test func biasesAndNormsAreNotDecayed() {
    var values: [Float] = [3], gradient: [Float] = [0]
    let optimizer = AdamW(weightDecay: 0.5)
    values.withUnsafeMutableBufferPointer { x in
        gradient.withUnsafeMutableBufferPointer { g in
            optimizer.update([ParameterSlot(name: "b", values: x, gradient: g, decays: false)], learningRate: 0.1)
        }
    }
    #expect(values == [3])
}

@Test func clippingScalesTheGlobalNormDownToTheLimit() {
    var a: [Float] = [3, 0], b: [Float] = [0, 4], unused: [Float] = [0, 0]
    let norm = a.withUnsafeMutableBufferPointer { a in
        b.withUnsafeMutableBufferPointer { b in
            unused.withUnsafeMutableBufferPointer { x in
                clipGradientNorm([ParameterSlot(name: "a", values: x, gradient: a, decays: true),
                                  ParameterSlot(name: "b", values: x, gradient: b, decays: true)], maxNorm: 1)
            }
        }
    }
    #expect(norm == 5)
    #expect(abs(a[0] - 0.6) < 1e-6 && abs(b[1] - 0.8) < 1e-6)
}

@Test func scheduleWarmsUpLinearlyThenFollowsTheCosine() {
    let schedule = WarmupCosineSchedule(peak: 1, minimum: 0.1, warmupSteps: 4, totalSteps: 14)
    #expect(schedule.learningRate(at: 0) == 0.25)
    #expect(schedule.learningRate(at: 3) == 1)
    #expect(schedule.learningRate(at: 4) == 1)
    #expect(abs(schedule.learningRate(at: 9) - 0.55) < 1e-12)
    #expect(abs(schedule.learningRate(at: 14) - 0.1) < 1e-12)
}
