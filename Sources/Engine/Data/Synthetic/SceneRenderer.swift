import Foundation
import Tensors

/// A pinhole camera. Camera-frame axes follow the label convention: x right, y up, z toward the viewer.
struct Camera: Sendable {
    var position: Vector3
    var forward: Vector3
    var right: Vector3
    var up: Vector3
    var focal: Float
    var cx: Float
    var cy: Float

    init(position: Vector3, target: Vector3, focal: Float, width: Int, height: Int) {
        self.position = position
        forward = normalized(target - position)
        right = normalized(cross(Vector3(0, 1, 0), forward))
        up = cross(forward, right)
        self.focal = focal
        cx = Float(width) / 2
        cy = Float(height) / 2
    }

    /// Direction of the ray through the centre of pixel (x, y).
    @inline(__always) func ray(_ x: Int, _ y: Int) -> Vector3 {
        let u = (Float(x) + 0.5 - cx) / focal, v = (Float(y) + 0.5 - cy) / focal
        return normalized(forward + u * right - v * up)
    }
}

struct Lighting: Sendable {
    /// Unit vector toward the light.
    var direction: Vector3
    var colour: Vector3
    var ambient: Vector3
    var skyTop: Vector3
    var skyHorizon: Vector3
    /// Atmospheric haze per metre (0 indoors).
    var haze: Float
}

struct Scene: Sendable {
    var camera: Camera
    var objects: [SceneObject]
    var lighting: Lighting
    /// Standard deviation of the sensor noise added to every channel.
    var noise: Float
    var exposure: Float
    /// The semantic class of pixels where no surface is hit (the sky).
    var skyClass: UInt8 = 0
}

/// Everything one ray-cast pass yields; labels come from the same hits as the colours.
struct RenderedScene: Sendable {
    var width: Int
    var height: Int
    /// [3, H, W] in [0, 1].
    var rgb: [Float]
    /// Semantic class per pixel; sky pixels get the scene's `skyClass`.
    var semantic: [UInt8]
    /// Human part per pixel (0 = not a figure).
    var parts: [UInt8]
    /// Index of the object hit per pixel, -1 for the sky.
    var instance: [Int32]
    /// [3, H, W] camera-frame unit normals, zero where nothing was hit.
    var normals: [Float]
    /// Distance along the optical axis in metres, 0 where nothing was hit.
    var depth: [Float]
}

enum SceneRenderer {
    static func render(_ scene: Scene, width: Int, height: Int, random: inout SeededRandom) -> RenderedScene {
        let plane = width * height
        var output = RenderedScene(
            width: width, height: height, rgb: [Float](repeating: 0, count: 3 * plane),
            semantic: [UInt8](repeating: scene.skyClass, count: plane), parts: [UInt8](repeating: 0, count: plane),
            instance: [Int32](repeating: -1, count: plane), normals: [Float](repeating: 0, count: 3 * plane),
            depth: [Float](repeating: 0, count: plane))
        let camera = scene.camera, light = scene.lighting
        let solids = FlatScene(scene.objects)

        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                let d = camera.ray(x, y)
                var colour: Vector3
                if let hit = solids.nearestHit(origin: camera.position, direction: d) {
                    let object = scene.objects[hit.object]
                    let primitive = solids.primitives[hit.primitive]
                    let p = camera.position + hit.t * d
                    let n = hit.normal
                    let local = object.isBounded ? object.yaw.inverse(p - object.origin) : p
                    let material = object.materials[primitive.material]
                    let albedo = material.albedo(at: local)

                    let facing = dot(n, light.direction)
                    var lit: Float = 0
                    if facing > 0 && !solids.shadowed(origin: p + n * 2e-3, direction: light.direction) {
                        lit = facing
                    }
                    let halfway = normalized(light.direction - d)
                    let highlight = lit > 0 && material.gloss > 0 ? material.gloss * pow(max(dot(n, halfway), 0), 24) : 0
                    colour = albedo * (light.ambient + light.colour * lit) + light.colour * highlight
                    if light.haze > 0 {
                        let fog = 1 - exp(-light.haze * hit.t)
                        colour += (light.skyHorizon - colour) * fog
                    }

                    output.semantic[i] = object.semanticClass
                    output.parts[i] = object.isFigure ? primitive.part : 0
                    output.instance[i] = Int32(hit.object)
                    output.normals[i] = dot(n, camera.right)
                    output.normals[plane + i] = dot(n, camera.up)
                    output.normals[2 * plane + i] = -dot(n, camera.forward)
                    output.depth[i] = hit.t * dot(d, camera.forward)
                } else {
                    let elevation = max(d.y, 0).squareRoot()
                    colour = light.skyHorizon + (light.skyTop - light.skyHorizon) * elevation
                }
                for c in 0..<3 {
                    let noisy = colour[c] * scene.exposure + random.gaussian(0, scene.noise)
                    output.rgb[c * plane + i] = min(max(noisy, 0), 1)
                }
            }
        }
        return output
    }
}

/// The scene's primitives in one contiguous array with per-object ranges and bounding spheres,
/// so the per-pixel loops touch flat memory only.
struct FlatScene {
    var primitives: [Primitive] = []
    /// Per object: first primitive, end, bounding centre and radius (infinite for planes).
    var ranges: [(start: Int, end: Int, centre: Vector3, radius: Float, castsShadow: Bool)] = []

    init(_ objects: [SceneObject]) {
        for object in objects {
            let start = primitives.count
            primitives += object.primitives
            ranges.append((start, primitives.count, object.boundCentre,
                           object.isBounded ? object.boundRadius : .infinity, object.isBounded))
        }
    }

    /// The closest surface along a ray: object and primitive indices, distance and world normal.
    func nearestHit(origin: Vector3, direction: Vector3) -> (object: Int, primitive: Int, t: Float, normal: Vector3)? {
        var bestT = Float.infinity, bestObject = -1, bestPrimitive = -1, bestNormal = Vector3.zero
        primitives.withUnsafeBufferPointer { primitives in
            for o in ranges.indices {
                let range = ranges[o]
                if range.radius.isFinite {
                    // Skip objects whose bounding sphere the ray misses or that lie beyond the best hit.
                    let toCentre = range.centre - origin
                    let along = dot(toCentre, direction)
                    if along < -range.radius || along - range.radius > bestT { continue }
                    if dot(toCentre, toCentre) - along * along > range.radius * range.radius { continue }
                }
                for k in range.start..<range.end {
                    if let hit = primitives[k].intersect(origin: origin, direction: direction, minimum: 1e-4), hit.t < bestT {
                        bestT = hit.t; bestObject = o; bestPrimitive = k; bestNormal = hit.normal
                    }
                }
            }
        }
        return bestObject < 0 ? nil : (bestObject, bestPrimitive, bestT, bestNormal)
    }

    /// Whether any bounded solid blocks the ray (planes cast no shadows: the light is above them).
    func shadowed(origin: Vector3, direction: Vector3) -> Bool {
        primitives.withUnsafeBufferPointer { primitives in
            for range in ranges where range.castsShadow {
                let toCentre = range.centre - origin
                let along = dot(toCentre, direction)
                if along < -range.radius { continue }
                if dot(toCentre, toCentre) - along * along > range.radius * range.radius { continue }
                for k in range.start..<range.end
                where primitives[k].intersect(origin: origin, direction: direction, minimum: 1e-4) != nil {
                    return true
                }
            }
            return false
        }
    }
}
