import Foundation

/// The data generators' random numbers: SplitMix64 (one 64-bit state, well mixed) with Float
/// draws. Kept apart from the model's initialiser stream so data and weights never share draws.
struct SampleRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A generator for one item of a stream, e.g. (data-set seed, split, image index): each item gets
    /// its own well-mixed seed, so items can be produced in any order and on any thread.
    init(stream parts: UInt64...) {
        var seed: UInt64 = 0x243F_6A88_85A3_08D3
        for part in parts {
            var mixer = SampleRandom(seed: seed ^ part)
            seed = mixer.next()
        }
        self.init(seed: seed)
    }

    /// Uniform in [low, high).
    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) * 0x1.0p-24
    }

    /// Uniform integer in 0..<bound.
    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    /// Uniform integer in the closed range.
    mutating func integer(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.count)
    }

    mutating func chance(_ probability: Float) -> Bool {
        uniform(0, 1) < probability
    }

    /// Normal with the given mean and standard deviation (Box-Muller).
    mutating func gaussian(_ mean: Float, _ std: Float) -> Float {
        let u1 = max(uniform(0, 1), 1e-7), u2 = uniform(0, 1)
        return mean + std * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
