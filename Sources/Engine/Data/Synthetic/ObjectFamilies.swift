import Foundation
import Tensors

/// A solid made of primitives, placed in the world.
struct SceneObject: Sendable {
    var primitives: [Primitive]
    var materials: [Material]
    /// Semantic class written into the semseg map.
    var semanticClass: UInt8
    /// Figures carry human parts.
    var isFigure: Bool
    /// Candidates for the salient foreground (not background clutter, not room surfaces).
    var canBeSalient: Bool
    /// Casts shadows and has a bounding sphere (false for infinite planes).
    var isBounded: Bool
    /// Frame of the solid textures.
    var origin: Vector3
    var yaw: Yaw
    var boundCentre: Vector3
    var boundRadius: Float
}

/// Collects primitives in an object's local frame (y up from the ground, origin at its foot).
struct PartsBuilder {
    var primitives: [Primitive] = []

    mutating func add(_ shape: Shape, at centre: Vector3, yaw: Float = 0, material: Int = 0, part: UInt8 = 0) {
        primitives.append(Primitive(shape, at: centre, yaw: yaw, material: material, part: part))
    }

    /// Lowest point of the object, so figures can be stood on the ground.
    var lowestPoint: Float {
        primitives.map { primitive -> Float in
            switch primitive.shape {
            case .ellipsoid(let radii): return primitive.centre.y - radii.y
            case .box(let half): return primitive.centre.y - half.y
            case .frustum(let r0, let r1, let height, let lying):
                return primitive.centre.y - (lying ? max(r0, r1) : height / 2)
            case .capsule(let end, let radius): return min(primitive.centre.y, end.y) - radius
            case .plane: return 0
            }
        }.min() ?? 0
    }

    /// The object at `position` turned by `yaw`.
    func placed(at position: Vector3, yaw: Float, materials: [Material], semanticClass: UInt8,
                isFigure: Bool = false, canBeSalient: Bool = true) -> SceneObject {
        let rotation = Yaw(yaw)
        var world: [Primitive] = []
        var centres: [Vector3] = [], radii: [Float] = []
        for var primitive in primitives {
            let local = primitive.centre
            primitive.centre = position + rotation.apply(local)
            if case .capsule(let end, let radius) = primitive.shape {
                let worldEnd = position + rotation.apply(end)
                primitive.shape = .capsule(end: worldEnd, radius: radius)
                centres.append((primitive.centre + worldEnd) / 2)
                radii.append(length(worldEnd - primitive.centre) / 2 + radius)
            } else {
                let localYaw = atan2(primitive.yaw.sine, primitive.yaw.cosine)
                primitive.yaw = Yaw(localYaw + yaw)
                centres.append(primitive.centre)
                radii.append(primitive.shape.boundingRadius)
            }
            world.append(primitive)
        }
        let centre = centres.reduce(.zero, +) / Float(max(centres.count, 1))
        let radius = zip(centres, radii).map { length($0 - centre) + $1 }.max() ?? 0
        return SceneObject(primitives: world, materials: materials, semanticClass: semanticClass,
                           isFigure: isFigure, canBeSalient: canBeSalient, isBounded: true,
                           origin: position, yaw: rotation, boundCentre: centre, boundRadius: radius)
    }
}

extension Shape {
    /// Radius of a sphere about the primitive's centre that contains it.
    var boundingRadius: Float {
        switch self {
        case .ellipsoid(let radii): return radii.max()
        case .box(let half): return length(half)
        case .frustum(let r0, let r1, let height, _): return (max(r0, r1) * max(r0, r1) + height * height / 4).squareRoot()
        case .capsule(_, let radius): return radius
        case .plane: return .infinity
        }
    }
}

/// The shape families objects are built from. Each scene category is one family with its own
/// appearance distribution; the pretraining classes are families x appearance variants.
enum ObjectFamily: Int, CaseIterable, Sendable {
    case ball, globe, crate, cabinet, table, barrel, post, tree, lamp, cart
    case bottle, egg, mushroom, snowman, bench, tower, disc, cone, dumbbell, person

    var name: String { String(describing: self) }

    /// The pattern a family is most often drawn with, and the hue its colours centre on: hues
    /// step by the golden angle, so families next to each other in the list differ in colour,
    /// while the spread (40°) makes every hue shared by several families.
    var appearance: Appearance {
        let signature: Pattern = [.plain, .rings, .bricks, .stripes, .checker, .rings, .stripes, .noise, .plain,
                                  .checker, .stripes, .dots, .dots, .noise, .stripes, .bricks, .rings, .stripes,
                                  .checker, .plain][rawValue]
        var patterns: [(Pattern, Float)] = [(signature, 0.55)]
        for other in [Pattern.plain, .noise, .stripes, .checker] where other != signature {
            patterns.append((other, 0.15))
        }
        return Appearance(hue: Float(rawValue) * 137.508, hueSpread: 40, saturation: 0.25...0.9,
                          value: 0.3...0.95, patterns: patterns, frequency: 2...7, gloss: 0...0.5)
    }

    /// Builds the family's geometry in its local frame; returns the parts and how many materials
    /// they use (material 0 follows the category's appearance, the others are drawn freely).
    func build(_ random: inout SeededRandom) -> (parts: PartsBuilder, materials: Int) {
        var b = PartsBuilder()
        func u(_ low: Float, _ high: Float) -> Float { random.uniform(low, high) }
        switch self {
        case .ball:
            let r = u(0.15, 0.4)
            b.add(.ellipsoid(radii: Vector3(repeating: r)), at: Vector3(0, r, 0))
            return (b, 1)
        case .globe:
            let r = u(0.35, 0.7), stand = u(0.2, 0.4)
            b.add(.frustum(bottomRadius: 0.12, topRadius: 0.05, height: stand, lying: false),
                  at: Vector3(0, stand / 2, 0), material: 1)
            b.add(.ellipsoid(radii: Vector3(repeating: r)), at: Vector3(0, stand + r * 0.95, 0))
            return (b, 2)
        case .crate:
            let s = u(0.4, 1.0)
            let half = Vector3(s / 2, s / 2 * u(0.8, 1.2), s / 2)
            b.add(.box(halfExtents: half), at: Vector3(0, half.y, 0))
            return (b, 1)
        case .cabinet:
            let half = Vector3(u(0.25, 0.45), u(0.6, 1.0), u(0.18, 0.3))
            b.add(.box(halfExtents: half), at: Vector3(0, half.y, 0))
            return (b, 1)
        case .table:
            let w = u(0.45, 0.8), d = u(0.3, 0.5), h = u(0.65, 0.8)
            b.add(.box(halfExtents: Vector3(w, 0.03, d)), at: Vector3(0, h, 0))
            for (sx, sz) in [(Float(-1), Float(-1)), (-1, 1), (1, -1), (1, 1)] {
                b.add(.frustum(bottomRadius: 0.035, topRadius: 0.035, height: h, lying: false),
                      at: Vector3(sx * (w - 0.07), h / 2, sz * (d - 0.07)), material: 1)
            }
            return (b, 2)
        case .barrel:
            let r = u(0.25, 0.45), h = u(0.7, 1.1)
            b.add(.frustum(bottomRadius: r, topRadius: r * u(0.85, 1), height: h, lying: false), at: Vector3(0, h / 2, 0))
            return (b, 1)
        case .post:
            let r = u(0.05, 0.11), h = u(1.5, 3.0)
            b.add(.frustum(bottomRadius: r, topRadius: r, height: h, lying: false), at: Vector3(0, h / 2, 0))
            return (b, 1)
        case .tree:
            let trunk = u(0.4, 0.9), crown = u(1.2, 2.8)
            b.add(.frustum(bottomRadius: u(0.08, 0.15), topRadius: 0.07, height: trunk, lying: false),
                  at: Vector3(0, trunk / 2, 0), material: 1)
            b.add(.frustum(bottomRadius: u(0.45, 1.0), topRadius: 0, height: crown, lying: false),
                  at: Vector3(0, trunk + crown / 2, 0))
            return (b, 2)
        case .lamp:
            let h = u(1.3, 2.2)
            b.add(.frustum(bottomRadius: 0.04, topRadius: 0.03, height: h, lying: false), at: Vector3(0, h / 2, 0), material: 1)
            if random.chance(0.5) {
                let r = u(0.12, 0.25)
                b.add(.ellipsoid(radii: Vector3(repeating: r)), at: Vector3(0, h + r * 0.8, 0))
            } else {
                let shade = u(0.2, 0.35)
                b.add(.frustum(bottomRadius: shade, topRadius: shade * 0.45, height: shade, lying: false),
                      at: Vector3(0, h, 0))
            }
            return (b, 2)
        case .cart:
            let l = u(0.7, 1.2), h = u(0.2, 0.3), w = u(0.4, 0.55), wheel = u(0.18, 0.28)
            b.add(.box(halfExtents: Vector3(l, h, w)), at: Vector3(0, wheel + h, 0))
            b.add(.box(halfExtents: Vector3(l * u(0.4, 0.6), h * u(0.7, 1.0), w * 0.9)),
                  at: Vector3(-l * u(0, 0.3), wheel + 2 * h + h * 0.8, 0))
            for (sx, sz) in [(Float(-1), Float(-1)), (-1, 1), (1, -1), (1, 1)] {
                // A lying frustum's axis is local x; a quarter turn lays it across the cart.
                b.add(.frustum(bottomRadius: wheel, topRadius: wheel, height: 0.12, lying: true),
                      at: Vector3(sx * l * 0.7, wheel, sz * w), yaw: .pi / 2, material: 1)
            }
            return (b, 2)
        case .bottle:
            let r = u(0.06, 0.13), h = u(0.22, 0.45)
            b.add(.frustum(bottomRadius: r, topRadius: r, height: h, lying: false), at: Vector3(0, h / 2, 0))
            b.add(.frustum(bottomRadius: r * 0.9, topRadius: r * 0.35, height: h * 0.35, lying: false),
                  at: Vector3(0, h * 1.175, 0))
            b.add(.frustum(bottomRadius: r * 0.35, topRadius: r * 0.35, height: h * 0.15, lying: false),
                  at: Vector3(0, h * 1.42, 0), material: 1)
            return (b, 2)
        case .egg:
            let a = u(0.2, 0.45)
            let radii = Vector3(a, a * u(1.3, 1.7), a)
            b.add(.ellipsoid(radii: radii), at: Vector3(0, radii.y, 0))
            return (b, 1)
        case .mushroom:
            let stem = u(0.2, 0.6), capRadius = u(0.2, 0.5)
            b.add(.frustum(bottomRadius: u(0.07, 0.15), topRadius: u(0.05, 0.1), height: stem, lying: false),
                  at: Vector3(0, stem / 2, 0), material: 1)
            b.add(.ellipsoid(radii: Vector3(capRadius, capRadius * u(0.35, 0.6), capRadius)), at: Vector3(0, stem, 0))
            return (b, 2)
        case .snowman:
            var y: Float = 0, r = u(0.25, 0.45)
            for _ in 0..<3 {
                b.add(.ellipsoid(radii: Vector3(repeating: r)), at: Vector3(0, y + r, 0))
                y += 1.8 * r
                r *= 0.72
            }
            return (b, 1)
        case .bench:
            let l = u(0.6, 1.0), seat = u(0.4, 0.5), d = u(0.18, 0.25)
            b.add(.box(halfExtents: Vector3(l, 0.03, d)), at: Vector3(0, seat, 0))
            for side in [Float(-1), 1] {
                b.add(.box(halfExtents: Vector3(0.04, seat / 2, d)), at: Vector3(side * (l - 0.06), seat / 2, 0), material: 1)
            }
            if random.chance(0.6) {
                b.add(.box(halfExtents: Vector3(l, 0.15, 0.025)), at: Vector3(0, seat + 0.3, -d))
            }
            return (b, 2)
        case .tower:
            var y: Float = 0, s = u(0.25, 0.5)
            for _ in 0..<random.integer(2...4) {
                let h = u(0.2, 0.4)
                b.add(.box(halfExtents: Vector3(s, h, s)), at: Vector3(0, y + h, 0), yaw: u(0, .pi / 2))
                y += 2 * h
                s *= u(0.65, 0.85)
            }
            return (b, 1)
        case .disc:
            let post = u(0.35, 0.8), r = u(0.4, 0.8), thickness = u(0.06, 0.2)
            b.add(.frustum(bottomRadius: 0.06, topRadius: 0.06, height: post, lying: false),
                  at: Vector3(0, post / 2, 0), material: 1)
            b.add(.frustum(bottomRadius: r, topRadius: r, height: thickness, lying: false),
                  at: Vector3(0, post + thickness / 2, 0))
            return (b, 2)
        case .cone:
            let r = u(0.15, 0.3), h = u(0.4, 0.9)
            b.add(.box(halfExtents: Vector3(r * 1.3, 0.025, r * 1.3)), at: Vector3(0, 0.025, 0), material: 1)
            b.add(.frustum(bottomRadius: r, topRadius: r * 0.15, height: h, lying: false), at: Vector3(0, 0.05 + h / 2, 0))
            return (b, 2)
        case .dumbbell:
            let r = u(0.15, 0.3), bar = u(0.6, 1.2)
            b.add(.frustum(bottomRadius: r * 0.25, topRadius: r * 0.25, height: bar, lying: true),
                  at: Vector3(0, r, 0), material: 1)
            for side in [Float(-1), 1] {
                b.add(.ellipsoid(radii: Vector3(repeating: r)), at: Vector3(side * bar / 2, r, 0))
            }
            return (b, 2)
        case .person:
            return (Figure.build(&random), 4)
        }
    }
}

/// Articulated stick figures: capsules and ellipsoids labelled with PASCAL's six human parts
/// (1 head, 2 torso, 3 upper arms, 4 lower arms, 5 upper legs, 6 lower legs). Materials:
/// 0 skin, 1 top, 2 trousers, 3 hair.
enum Figure {
    static let head: UInt8 = 1, torso: UInt8 = 2, upperArm: UInt8 = 3, lowerArm: UInt8 = 4
    static let upperLeg: UInt8 = 5, lowerLeg: UInt8 = 6

    static func build(_ random: inout SeededRandom) -> PartsBuilder {
        func u(_ low: Float, _ high: Float) -> Float { random.uniform(low, high) }
        let child = random.chance(0.25)
        let height = child ? u(1.0, 1.4) : u(1.5, 1.9)
        let headScale: Float = child ? 1.25 : 1
        let degrees = Float.pi / 180
        let longSleeves = random.chance(0.5), shorts = random.chance(0.3)

        // Joint angles: swing forward (+) / back about the body's x axis, abduction outward.
        let pose = random.nextInt(below: 4)
        let walk = pose == 1 ? u(15, 35) * degrees : u(-8, 8) * degrees
        var armSwing = [-walk * 0.8 + u(-10, 10) * degrees, walk * 0.8 + u(-10, 10) * degrees]
        var armOut = [u(5, 20) * degrees, u(5, 20) * degrees]
        var elbow = [u(0, 40) * degrees, u(0, 40) * degrees]
        if pose == 2 {  // waving: one arm up
            let side = random.nextInt(below: 2)
            armOut[side] = u(110, 170) * degrees
            elbow[side] = u(0, 60) * degrees
        } else if pose == 3 {  // arms out or reaching forward
            armOut = [u(60, 100) * degrees, u(60, 100) * degrees]
            armSwing = [u(-20, 70) * degrees, u(-20, 70) * degrees]
        }
        let legSwing = [walk + u(-5, 5) * degrees, -walk + u(-5, 5) * degrees]
        let knee = [u(0, 35) * degrees, u(0, 35) * degrees]

        func direction(swing: Float, out: Float, side: Float) -> Vector3 {
            let hanging = Vector3(side * sin(out), -cos(out), 0)
            return Vector3(hanging.x, hanging.y * cos(swing), -hanging.y * sin(swing))
        }

        var b = PartsBuilder()
        let hipY = 0.5 * height
        b.add(.ellipsoid(radii: Vector3(0.15, 0.17, 0.09) * height), at: Vector3(0, hipY + 0.15 * height, 0),
              material: 1, part: torso)
        b.add(.capsule(end: Vector3(0, 0.86 * height, 0), radius: 0.035 * height), at: Vector3(0, 0.8 * height, 0),
              part: torso)
        let headRadii = Vector3(0.058, 0.072, 0.064) * height * headScale
        let headCentre = Vector3(0, 0.86 * height + headRadii.y * 0.9, 0)
        b.add(.ellipsoid(radii: headRadii), at: headCentre, part: head)
        if random.chance(0.8) {
            b.add(.ellipsoid(radii: headRadii * Vector3(1.06, 0.75, 1.06)),
                  at: headCentre + Vector3(0, headRadii.y * 0.35, -headRadii.z * 0.15), material: 3, part: head)
        }
        for (i, side) in [Float(-1), 1].enumerated() {
            let shoulder = Vector3(side * 0.17 * height, 0.79 * height, 0)
            let upper = direction(swing: armSwing[i], out: armOut[i], side: side)
            let elbowPoint = shoulder + upper * 0.17 * height
            let lower = direction(swing: armSwing[i] + elbow[i], out: armOut[i], side: side)
            let wrist = elbowPoint + lower * 0.17 * height
            b.add(.capsule(end: elbowPoint, radius: 0.04 * height), at: shoulder, material: 1, part: upperArm)
            b.add(.capsule(end: wrist, radius: 0.033 * height), at: elbowPoint, material: longSleeves ? 1 : 0,
                  part: lowerArm)

            let hip = Vector3(side * 0.08 * height, hipY, 0)
            let thigh = direction(swing: legSwing[i], out: u(0, 8) * degrees, side: side)
            let kneePoint = hip + thigh * 0.245 * height
            let shin = direction(swing: legSwing[i] - knee[i], out: 0, side: side)
            let ankle = kneePoint + shin * 0.24 * height
            b.add(.capsule(end: kneePoint, radius: 0.055 * height), at: hip, material: 2, part: upperLeg)
            b.add(.capsule(end: ankle, radius: 0.045 * height), at: kneePoint, material: shorts ? 0 : 2, part: lowerLeg)
        }
        // Stand on the ground.
        let lift = -b.lowestPoint
        b.primitives = b.primitives.map { primitive in
            var moved = primitive
            moved.centre.y += lift
            if case .capsule(let end, let radius) = primitive.shape {
                moved.shape = .capsule(end: end + Vector3(0, lift, 0), radius: radius)
            }
            return moved
        }
        return b
    }

    /// Skin, top, trousers and hair.
    static func materials(_ random: inout SeededRandom) -> [Material] {
        let skin = colour(hue: random.uniform(15, 35), saturation: random.uniform(0.25, 0.6),
                          value: random.uniform(0.3, 0.95))
        func cloth(_ random: inout SeededRandom) -> Material {
            let base = colour(hue: random.uniform(0, 360), saturation: random.uniform(0.1, 0.9),
                              value: random.uniform(0.15, 0.9))
            let accent = colour(hue: random.uniform(0, 360), saturation: random.uniform(0.1, 0.9),
                                value: random.uniform(0.15, 0.9))
            let pattern: Pattern = random.chance(0.6) ? .plain : [.stripes, .checker, .dots][random.nextInt(below: 3)]
            return Material(base: base, accent: accent, pattern: pattern, frequency: random.uniform(5, 12))
        }
        let hair = colour(hue: random.uniform(10, 40), saturation: random.uniform(0.2, 0.7), value: random.uniform(0.05, 0.6))
        return [Material(base: skin, accent: skin * 0.85), cloth(&random), cloth(&random),
                Material(base: hair, accent: hair * 0.7, pattern: .noise, frequency: 20)]
    }
}
