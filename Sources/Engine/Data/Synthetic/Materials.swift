import Foundation
import Tensors

/// Surface patterns, evaluated as solid textures on an object's local coordinates so they stick
/// to the object whatever its pose.
enum Pattern: Int, CaseIterable, Sendable {
    case plain, stripes, rings, checker, dots, noise, bricks
}

struct Material: Sendable {
    var base: Vector3
    var accent: Vector3
    var pattern: Pattern
    /// Pattern cycles per metre.
    var frequency: Float
    /// Strength of the glossy highlight.
    var gloss: Float

    init(base: Vector3, accent: Vector3, pattern: Pattern = .plain, frequency: Float = 4, gloss: Float = 0) {
        self.base = base; self.accent = accent; self.pattern = pattern; self.frequency = frequency; self.gloss = gloss
    }

    /// Albedo at local point `p` (metres in the object's frame).
    func albedo(at p: Vector3) -> Vector3 {
        let q = p * frequency
        let mix: Float
        switch pattern {
        case .plain:
            mix = 0.15 * valueNoise(q * 0.7)
        case .stripes:
            mix = sin(q.y * 2 * .pi) > 0 ? 1 : 0
        case .rings:
            mix = sin((q.x * q.x + q.z * q.z).squareRoot() * 2 * .pi + q.y) > 0.3 ? 1 : 0
        case .checker:
            let cells = Int(floor(q.x)) + Int(floor(q.y)) + Int(floor(q.z))
            mix = cells & 1 == 0 ? 1 : 0
        case .dots:
            let f = q - Vector3(floor(q.x), floor(q.y), floor(q.z)) - 0.5
            mix = dot(f, f) < 0.09 ? 1 : 0
        case .noise:
            mix = smoothstep(0.35, 0.65, valueNoise(q))
        case .bricks:
            let row = floor(q.y * 2)
            let shifted = q.x + q.z + (Int(row) & 1 == 0 ? 0 : 0.5)
            let mortar = q.y * 2 - row < 0.12 || shifted - floor(shifted) < 0.08
            mix = mortar ? 1 : 0.1 * valueNoise(q * 3)
        }
        return base + (accent - base) * mix
    }
}

@inline(__always) func smoothstep(_ low: Float, _ high: Float, _ x: Float) -> Float {
    let t = min(max((x - low) / (high - low), 0), 1)
    return t * t * (3 - 2 * t)
}

/// Hash of a lattice point to [0, 1).
@inline(__always) private func latticeHash(_ x: Int32, _ y: Int32, _ z: Int32) -> Float {
    var h = UInt32(bitPattern: x) &* 0x8DA6_B343 ^ UInt32(bitPattern: y) &* 0xD816_3841 ^ UInt32(bitPattern: z) &* 0xCB1A_B31F
    h = (h ^ (h >> 13)) &* 0x5BD1_E995
    h ^= h >> 15
    return Float(h & 0xFFFFFF) * 0x1.0p-24
}

/// Trilinear value noise in [0, 1).
func valueNoise(_ p: Vector3) -> Float {
    let fx = floor(p.x), fy = floor(p.y), fz = floor(p.z)
    let x = Int32(clamping: Int(fx)), y = Int32(clamping: Int(fy)), z = Int32(clamping: Int(fz))
    let u = smoothstep(0, 1, p.x - fx), v = smoothstep(0, 1, p.y - fy), w = smoothstep(0, 1, p.z - fz)
    func lerp(_ a: Float, _ b: Float, _ t: Float) -> Float { a + (b - a) * t }
    let c00 = lerp(latticeHash(x, y, z), latticeHash(x &+ 1, y, z), u)
    let c10 = lerp(latticeHash(x, y &+ 1, z), latticeHash(x &+ 1, y &+ 1, z), u)
    let c01 = lerp(latticeHash(x, y, z &+ 1), latticeHash(x &+ 1, y, z &+ 1), u)
    let c11 = lerp(latticeHash(x, y &+ 1, z &+ 1), latticeHash(x &+ 1, y &+ 1, z &+ 1), u)
    return lerp(lerp(c00, c10, v), lerp(c01, c11, v), w)
}

/// RGB from hue (degrees), saturation and value in [0, 1].
func colour(hue: Float, saturation: Float, value: Float) -> Vector3 {
    let h = (hue.truncatingRemainder(dividingBy: 360) + 360).truncatingRemainder(dividingBy: 360) / 60
    let c = value * saturation
    let x = c * (1 - abs(h.truncatingRemainder(dividingBy: 2) - 1))
    let m = value - c
    let rgb: Vector3
    switch Int(h) {
    case 0: rgb = Vector3(c, x, 0)
    case 1: rgb = Vector3(x, c, 0)
    case 2: rgb = Vector3(0, c, x)
    case 3: rgb = Vector3(0, x, c)
    case 4: rgb = Vector3(x, 0, c)
    default: rgb = Vector3(c, 0, x)
    }
    return rgb + m
}

/// A distribution of appearances: the hue, saturation and value ranges and the patterns a
/// category is drawn with. Categories' ranges overlap on purpose, so colour alone does not name
/// a class.
struct Appearance: Sendable {
    var hue: Float
    var hueSpread: Float
    var saturation: ClosedRange<Float>
    var value: ClosedRange<Float>
    /// Patterns with their weights.
    var patterns: [(Pattern, Float)]
    var frequency: ClosedRange<Float>
    var gloss: ClosedRange<Float>

    func draw(_ random: inout SeededRandom) -> Material {
        let hue = random.gaussian(self.hue, hueSpread)
        let base = colour(hue: hue, saturation: random.uniform(saturation.lowerBound, saturation.upperBound),
                          value: random.uniform(value.lowerBound, value.upperBound))
        // The accent is a darker or lighter shade, sometimes a contrasting hue.
        let accentHue = random.chance(0.3) ? hue + random.uniform(90, 270) : hue + random.uniform(-25, 25)
        let accent = colour(hue: accentHue, saturation: random.uniform(0.1, 0.9), value: random.uniform(0.15, 0.95))
        var pick = random.uniform(0, patterns.reduce(0) { $0 + $1.1 })
        var pattern = patterns.last!.0
        for (candidate, weight) in patterns {
            if pick < weight { pattern = candidate; break }
            pick -= weight
        }
        return Material(base: base, accent: accent, pattern: pattern,
                        frequency: random.uniform(frequency.lowerBound, frequency.upperBound),
                        gloss: random.uniform(gloss.lowerBound, gloss.upperBound))
    }
}
