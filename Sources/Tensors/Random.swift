#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SplitMix64: the one seeded generator of the engine, so a seed means the same
/// stream everywhere (initialisation, data, augmentation, rank sampling, dropout masks).
/// Its whole state is one integer. Derive independent streams with `split(_:)` (or by seeding
/// with a key, as the engine's initialisers do) rather than sharing one generator across
/// components whose call order might change.
///
/// Two samplers of each distribution exist because each draws a different stream, and every
/// stream is part of what a run's seed reproduces: `nextFloat()` / `normal()` (24-bit uniform,
/// Float Box-Muller) feed the synthetic data and augmentation; `unit()` / `normalDouble()`
/// (53-bit uniform, Double Box-Muller) feed the initial weights, dropout and rank sampling.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A generator for a named sub-stream: same parent state and key, same stream.
    public func split(_ key: UInt64) -> SeededRandom {
        var child = SeededRandom(seed: state ^ (key &* 0xD1B5_4A32_D192_ED03))
        _ = child.next()
        return child
    }

    /// Uniform in [0, 1) with 24 random bits (every value exactly representable).
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * nextFloat()
    }

    /// Standard normal (Box-Muller in Double, one value per call for a simple stream).
    public mutating func normal() -> Float {
        let u1 = (Double(next() >> 11) + 1) * 0x1p-53  // (0, 1]: log is finite
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal by Box-Muller in Double from two `unit()` draws (the first kept away from 0).
    public mutating func normalDouble() -> Double {
        let u1 = max(unit(), 1e-300), u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Uniform integer in 0..<bound.
    public mutating func nextInt(below bound: Int) -> Int {
        Int(next(upperBound: UInt64(bound)))
    }
}
