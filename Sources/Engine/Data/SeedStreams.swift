import Foundation
import Tensors

/// The data generators' draws, on the engine's one seeded generator.
extension SeededRandom {
    /// A generator for one item of a stream, e.g. (data-set seed, split, image index): each item gets
    /// its own well-mixed seed, so items can be produced in any order and on any thread.
    init(stream parts: UInt64...) {
        var seed: UInt64 = 0x243F_6A88_85A3_08D3
        for part in parts {
            var mixer = SeededRandom(seed: seed ^ part)
            seed = mixer.next()
        }
        self.init(seed: seed)
    }

    /// Uniform integer in the closed range.
    mutating func integer(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + nextInt(below: range.count)
    }

    mutating func chance(_ probability: Float) -> Bool {
        uniform(0, 1) < probability
    }

    /// Normal with the given mean and standard deviation.
    mutating func gaussian(_ mean: Float, _ std: Float) -> Float {
        mean + std * normal()
    }
}
