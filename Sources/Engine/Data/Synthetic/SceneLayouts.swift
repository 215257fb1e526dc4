import Foundation
import Tensors

/// Random scene compositions: an outdoor street-like scene with figures (the PASCAL-Context
/// analogue), a furnished room (the NYUD-v2 analogue) and one object in view (the pretraining
/// sets). Everything is drawn from one generator, so a seed fixes the scene.
enum SceneLayouts {
    /// Indoor families of the room scenes, in class order after the room surfaces.
    static let roomFamilies: [ObjectFamily] = [.crate, .cabinet, .table, .barrel, .lamp, .bottle, .bench, .ball,
                                               .globe, .tower, .disc, .egg]

    /// The outdoor scenes' "stuff", each its own semseg class as in PASCAL-Context's label set;
    /// the background class keeps the clutter (rocks, bushes), PASCAL's unlabelled "other".
    enum Stuff: String, CaseIterable {
        case sky, grass, ground, road, building
    }

    /// Objects stand 1-7 m from the camera and figures 1-5 m (nearer more likely), so that at the
    /// default 64 px an object spans about 5-30 pixels: large enough for its class and, for a
    /// figure, its parts to be learned at all (at 2-14 m most were a few pixels across).
    static let objectDepths: ClosedRange<Float> = 1...7, figureDepths: ClosedRange<Float> = 1...5

    static func outdoor(width: Int, height: Int, classOf: (ObjectFamily) -> UInt8, stuffClass: (Stuff) -> UInt8,
                        random: inout SeededRandom) -> Scene {
        func u(_ low: Float, _ high: Float) -> Float { random.uniform(low, high) }
        let focal = Float(width) * u(0.9, 1.4)
        let eye = Vector3(0, u(0.8, 2.2), 0)
        let pitch = u(-0.03, 0.25)
        let camera = Camera(position: eye, target: eye + Vector3(0, -sin(pitch), cos(pitch)), focal: focal,
                            width: width, height: height)
        let lighting = outdoorLighting(&random)

        var objects: [SceneObject] = []
        // Green grass, brown earth or sand, blue-grey paving.
        let (groundHue, groundKind): (Float, Stuff) = [(95, .grass), (35, .ground), (30, .ground), (210, .road)][random.nextInt(below: 4)]
        let ground = Appearance(hue: groundHue, hueSpread: 20, saturation: 0.1...0.6,
                                value: 0.25...0.7, patterns: [(.noise, 0.5), (.checker, 0.2), (.bricks, 0.15), (.plain, 0.15)],
                                frequency: 0.3...1.2, gloss: 0...0.05)
        objects.append(surface(normal: Vector3(0, 1, 0), through: .zero, material: ground.draw(&random),
                               semanticClass: stuffClass(groundKind)))
        if random.chance(0.5) {
            let facade = Appearance(hue: u(0, 360), hueSpread: 30, saturation: 0.05...0.5, value: 0.3...0.85,
                                    patterns: [(.bricks, 0.5), (.stripes, 0.2), (.checker, 0.2), (.plain, 0.1)],
                                    frequency: 0.5...2.5, gloss: 0...0.1)
            objects.append(surface(normal: Vector3(0, 0, -1), through: Vector3(0, 0, u(12, 30)),
                                   material: facade.draw(&random), semanticClass: stuffClass(.building)))
        }

        var footprints: [(x: Float, z: Float, r: Float)] = []
        // Background clutter (rocks, bushes) shares the background class.
        for _ in 0..<random.integer(0...5) {
            let r = u(0.1, 0.5)
            let stone = Appearance(hue: u(20, 140), hueSpread: 20, saturation: 0.1...0.5, value: 0.2...0.6,
                                   patterns: [(.noise, 0.7), (.plain, 0.3)], frequency: 2...8, gloss: 0...0.1)
            var parts = PartsBuilder()
            parts.add(.ellipsoid(radii: Vector3(r * u(0.8, 1.6), r * u(0.4, 0.9), r * u(0.8, 1.6))), at: Vector3(0, r * 0.3, 0))
            if let spot = placement(camera: camera, width: width, depth: 3...25, radius: r * 1.6, footprints: &footprints,
                                    random: &random) {
                objects.append(parts.placed(at: spot, yaw: u(0, 2 * .pi), materials: [stone.draw(&random)],
                                            semanticClass: 0, canBeSalient: false))
            }
        }

        let things = ObjectFamily.allCases.filter { $0 != .person }
        for _ in 0..<random.integer(2...7) {
            let family = things[random.nextInt(below: things.count)]
            if let object = placedObject(family, camera: camera, width: width, depth: objectDepths,
                                         semanticClass: classOf(family), footprints: &footprints, random: &random) {
                objects.append(object)
            }
        }
        if random.chance(0.55) {
            for _ in 0..<random.integer(1...3) {
                if let figure = placedObject(.person, camera: camera, width: width, depth: figureDepths,
                                             semanticClass: classOf(.person), footprints: &footprints, random: &random) {
                    objects.append(figure)
                }
            }
        }
        return Scene(camera: camera, objects: objects, lighting: lighting, noise: u(0.005, 0.03), exposure: u(0.8, 1.25),
                     skyClass: stuffClass(.sky))
    }

    /// Room surfaces take classes 0 (wall), 1 (floor), 2 (ceiling), 3 (picture); objects follow.
    static func room(width: Int, height: Int, random: inout SeededRandom) -> Scene {
        func u(_ low: Float, _ high: Float) -> Float { random.uniform(low, high) }
        let roomHeight = u(2.4, 3.2), back = u(4, 9), left = u(1.5, 3.5), right = u(1.5, 3.5)
        let eye = Vector3(u(-0.5, 0.5), u(1.1, 1.7), 0)
        let target = eye + Vector3(u(-0.4, 0.4), -u(0.05, 0.45), 1)
        let camera = Camera(position: eye, target: target, focal: Float(width) * u(0.7, 1.1), width: width, height: height)

        // A lamp-lit room: warm or cool light from above, strong ambient from the walls.
        let azimuth = u(0, 2 * .pi)
        let lightDirection = normalized(Vector3(cos(azimuth) * 0.6, u(0.6, 1.5), sin(azimuth) * 0.6 - 0.3))
        let tint = colour(hue: u(20, 220), saturation: u(0, 0.25), value: 1)
        let lighting = Lighting(direction: lightDirection, colour: tint * u(0.5, 0.85), ambient: tint * u(0.25, 0.45),
                                skyTop: .zero, skyHorizon: .zero, haze: 0)

        let wallLook = Appearance(hue: u(0, 360), hueSpread: 25, saturation: 0...0.35, value: 0.45...0.95,
                                  patterns: [(.plain, 0.5), (.stripes, 0.2), (.noise, 0.2), (.bricks, 0.1)],
                                  frequency: 0.5...3, gloss: 0...0.05)
        let wall = wallLook.draw(&random)
        let floorLook = Appearance(hue: u(15, 45), hueSpread: 30, saturation: 0.1...0.6, value: 0.2...0.7,
                                   patterns: [(.stripes, 0.35), (.checker, 0.3), (.noise, 0.25), (.plain, 0.1)],
                                   frequency: 0.8...4, gloss: 0...0.3)
        let ceiling = Material(base: Vector3(repeating: u(0.7, 0.95)), accent: Vector3(repeating: 0.6), pattern: .plain)
        var objects = [
            surface(normal: Vector3(0, 1, 0), through: .zero, material: floorLook.draw(&random), semanticClass: 1),
            surface(normal: Vector3(0, -1, 0), through: Vector3(0, roomHeight, 0), material: ceiling, semanticClass: 2),
            surface(normal: Vector3(0, 0, -1), through: Vector3(0, 0, back), material: wall, semanticClass: 0),
            surface(normal: Vector3(1, 0, 0), through: Vector3(-left, 0, 0), material: wall, semanticClass: 0),
            surface(normal: Vector3(-1, 0, 0), through: Vector3(right, 0, 0), material: wall, semanticClass: 0),
        ]
        // Pictures and windows: thin panels on the back wall.
        let panel = Appearance(hue: u(0, 360), hueSpread: 90, saturation: 0.1...0.8, value: 0.2...0.95,
                               patterns: [(.noise, 0.4), (.plain, 0.3), (.checker, 0.3)], frequency: 2...10, gloss: 0...0.4)
        for _ in 0..<random.integer(0...2) {
            var parts = PartsBuilder()
            let half = Vector3(u(0.3, 0.9), u(0.25, 0.7), 0.02)
            parts.add(.box(halfExtents: half), at: .zero)
            let centre = Vector3(u(-left + half.x, right - half.x), u(0.9, roomHeight - half.y - 0.1), back - 0.02)
            objects.append(parts.placed(at: centre, yaw: 0, materials: [panel.draw(&random)], semanticClass: 3,
                                        canBeSalient: false))
        }
        var footprints: [(x: Float, z: Float, r: Float)] = []
        for _ in 0..<random.integer(2...7) {
            let index = random.nextInt(below: roomFamilies.count)
            let family = roomFamilies[index]
            let candidate = placedObject(family, camera: camera, width: width, depth: 1.2...(back - 0.4),
                                         semanticClass: UInt8(4 + index), footprints: &footprints, random: &random)
            // Keep furniture inside the room.
            if let object = candidate, object.origin.x - object.boundRadius * 0.5 > -left,
               object.origin.x + object.boundRadius * 0.5 < right {
                objects.append(object)
            }
        }
        return Scene(camera: camera, objects: objects, lighting: lighting, noise: u(0.005, 0.03), exposure: u(0.85, 1.2))
    }

    /// One object of `family` with the appearance `look`, filling a good part of the view, on a
    /// random outdoor or indoor background.
    static func portrait(of family: ObjectFamily, look: Appearance, width: Int, height: Int,
                         random: inout SeededRandom) -> Scene {
        func u(_ low: Float, _ high: Float) -> Float { random.uniform(low, high) }
        let (parts, materialCount) = family.build(&random)
        var materials = family == .person ? Figure.materials(&random) : [look.draw(&random)]
        while materials.count < materialCount { materials.append(freeMaterial(&random)) }
        let subject = parts.placed(at: .zero, yaw: u(0, 2 * .pi), materials: materials, semanticClass: 1)

        // Frame the subject: its bounding sphere spans 45-90 % of the view.
        let focal = Float(width) * u(0.9, 1.3)
        let span = u(0.45, 0.9)
        let distance = subject.boundRadius * 2 * focal / (span * Float(width))
        let elevation = u(0.02, 0.5), azimuth = u(-0.3, 0.3)
        let target = subject.boundCentre + Vector3(u(-0.15, 0.15), u(-0.15, 0.15), 0) * subject.boundRadius
        let eye = target + distance * Vector3(sin(azimuth) * cos(elevation), sin(elevation), -cos(azimuth) * cos(elevation))
        let camera = Camera(position: Vector3(eye.x, max(eye.y, 0.2), eye.z), target: target, focal: focal,
                            width: width, height: height)

        var objects = [subject]
        let ground = Appearance(hue: u(0, 360), hueSpread: 30, saturation: 0...0.6, value: 0.2...0.8,
                                patterns: [(.noise, 0.4), (.checker, 0.2), (.stripes, 0.2), (.plain, 0.2)],
                                frequency: 0.5...4, gloss: 0...0.1)
        objects.append(surface(normal: Vector3(0, 1, 0), through: .zero, material: ground.draw(&random), semanticClass: 0))
        if random.chance(0.5) {
            let away = normalized(Vector3(-eye.x, 0, -eye.z))
            objects.append(surface(normal: away, through: away * (subject.boundRadius + u(0.2, 2)),
                                   material: ground.draw(&random), semanticClass: 0))
        }
        return Scene(camera: camera, objects: objects, lighting: outdoorLighting(&random), noise: u(0.005, 0.04),
                     exposure: u(0.8, 1.25))
    }

    // MARK: pieces

    static func outdoorLighting(_ random: inout SeededRandom) -> Lighting {
        func u(_ low: Float, _ high: Float) -> Float { random.uniform(low, high) }
        let azimuth = u(0, 2 * .pi), elevation = u(0.25, 1.3)
        let direction = Vector3(cos(azimuth) * cos(elevation), sin(elevation), sin(azimuth) * cos(elevation))
        let sun = colour(hue: u(20, 60), saturation: u(0, 0.35), value: 1) * u(0.55, 1.0)
        let sky = colour(hue: u(190, 230), saturation: u(0.15, 0.6), value: u(0.55, 0.95))
        return Lighting(direction: direction, colour: sun, ambient: sky * u(0.25, 0.5), skyTop: sky,
                        skyHorizon: sky + (Vector3(repeating: 0.9) - sky) * u(0.3, 0.8), haze: u(0, 0.04))
    }

    static func surface(normal: Vector3, through point: Vector3, material: Material, semanticClass: UInt8) -> SceneObject {
        SceneObject(primitives: [Primitive(.plane(normal: normal), at: point)], materials: [material],
                    semanticClass: semanticClass, isFigure: false, canBeSalient: false, isBounded: false,
                    origin: .zero, yaw: Yaw(0), boundCentre: point, boundRadius: .infinity)
    }

    static func freeMaterial(_ random: inout SeededRandom) -> Material {
        Appearance(hue: random.uniform(0, 360), hueSpread: 0, saturation: 0...0.5, value: 0.1...0.7,
                   patterns: [(.plain, 0.7), (.noise, 0.3)], frequency: 3...10, gloss: 0...0.3).draw(&random)
    }

    /// A family member with its category's appearance, stood on the ground in view, or nil when
    /// no free spot was found.
    static func placedObject(_ family: ObjectFamily, camera: Camera, width: Int, depth: ClosedRange<Float>,
                             semanticClass: UInt8, footprints: inout [(x: Float, z: Float, r: Float)],
                             random: inout SeededRandom) -> SceneObject? {
        let (parts, materialCount) = family.build(&random)
        var materials = family == .person ? Figure.materials(&random) : [family.appearance.draw(&random)]
        while materials.count < materialCount { materials.append(freeMaterial(&random)) }
        let yaw = random.uniform(0, 2 * .pi)
        let probe = parts.placed(at: .zero, yaw: yaw, materials: materials, semanticClass: semanticClass)
        let footprint = (probe.boundCentre.x * probe.boundCentre.x + probe.boundCentre.z * probe.boundCentre.z).squareRoot()
            + min(probe.boundRadius, 1.5)
        guard let spot = placement(camera: camera, width: width, depth: depth, radius: footprint * 0.8,
                                   footprints: &footprints, random: &random) else { return nil }
        return parts.placed(at: spot, yaw: yaw, materials: materials, semanticClass: semanticClass,
                            isFigure: family == .person)
    }

    /// A ground point in the camera's view, nearer points more likely, not overlapping earlier footprints.
    static func placement(camera: Camera, width: Int, depth: ClosedRange<Float>, radius: Float,
                          footprints: inout [(x: Float, z: Float, r: Float)], random: inout SeededRandom) -> Vector3? {
        let forward = normalized(Vector3(camera.forward.x, 0, camera.forward.z))
        let side = Vector3(forward.z, 0, -forward.x)
        for _ in 0..<12 {
            let t = random.uniform(0, 1)
            let distance = depth.lowerBound + (depth.upperBound - depth.lowerBound) * t * t
            let halfWidth = distance * Float(width) / 2 / camera.focal
            let lateral = random.uniform(-1.1, 1.1) * halfWidth
            let point = Vector3(camera.position.x, 0, camera.position.z) + distance * forward + lateral * side
            let free = footprints.allSatisfy { other in
                let dx = other.x - point.x, dz = other.z - point.z
                return (dx * dx + dz * dz).squareRoot() > other.r + radius
            }
            if free {
                footprints.append((point.x, point.z, radius))
                return point
            }
        }
        return nil
    }
}
