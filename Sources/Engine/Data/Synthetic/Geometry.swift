import Foundation

typealias Vector3 = SIMD3<Float>

@inline(__always) func dot(_ a: Vector3, _ b: Vector3) -> Float { (a * b).sum() }
@inline(__always) func length(_ a: Vector3) -> Float { dot(a, a).squareRoot() }
@inline(__always) func normalized(_ a: Vector3) -> Vector3 { a / length(a) }
@inline(__always) func cross(_ a: Vector3, _ b: Vector3) -> Vector3 {
    Vector3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}

/// A rotation about the vertical (y) axis, the only one the scene's solids need besides
/// laying a solid's axis along x.
struct Yaw: Sendable {
    var cosine: Float
    var sine: Float

    init(_ radians: Float) { cosine = cos(radians); sine = sin(radians) }

    /// World -> local.
    @inline(__always) func inverse(_ v: Vector3) -> Vector3 {
        Vector3(cosine * v.x + sine * v.z, v.y, -sine * v.x + cosine * v.z)
    }

    /// Local -> world.
    @inline(__always) func apply(_ v: Vector3) -> Vector3 {
        Vector3(cosine * v.x - sine * v.z, v.y, sine * v.x + cosine * v.z)
    }
}

/// The solids a scene is built from. All but `plane` and `capsule` live in a local frame
/// (centre, yaw); `frustum` covers cylinders (equal radii) and cones (top radius 0).
enum Shape: Sendable {
    /// Infinite plane through `centre` with `normal`.
    case plane(normal: Vector3)
    case ellipsoid(radii: Vector3)
    case box(halfExtents: Vector3)
    /// Axis along local y (or local x when `lying`), base at -height/2, top at +height/2.
    case frustum(bottomRadius: Float, topRadius: Float, height: Float, lying: Bool)
    /// Segment from `centre` to `end` (world), with a radius.
    case capsule(end: Vector3, radius: Float)
}

struct Primitive: Sendable {
    var shape: Shape
    var centre: Vector3
    var yaw: Yaw
    /// Index into the object's materials.
    var material: Int
    /// Human part (1...6) for a figure's limbs, 0 otherwise.
    var part: UInt8

    init(_ shape: Shape, at centre: Vector3, yaw: Float = 0, material: Int = 0, part: UInt8 = 0) {
        self.shape = shape; self.centre = centre; self.yaw = Yaw(yaw); self.material = material; self.part = part
    }

    /// Distance along the ray to the nearest hit beyond `minimum` and the world normal there
    /// (pointing out of the solid), or nil.
    func intersect(origin: Vector3, direction: Vector3, minimum: Float) -> (t: Float, normal: Vector3)? {
        switch shape {
        case .plane(let normal):
            let denominator = dot(direction, normal)
            guard abs(denominator) > 1e-6 else { return nil }
            let t = dot(centre - origin, normal) / denominator
            return t > minimum ? (t, denominator < 0 ? normal : -normal) : nil

        case .ellipsoid(let radii):
            let o = yaw.inverse(origin - centre) / radii, d = yaw.inverse(direction) / radii
            let a = dot(d, d), b = dot(o, d), c = dot(o, o) - 1
            let discriminant = b * b - a * c
            guard discriminant >= 0 else { return nil }
            let root = discriminant.squareRoot()
            var t = (-b - root) / a
            if t <= minimum { t = (-b + root) / a }
            guard t > minimum else { return nil }
            let local = (o + t * d) / radii
            return (t, normalized(yaw.apply(local)))

        case .box(let half):
            let o = yaw.inverse(origin - centre), d = yaw.inverse(direction)
            var near = -Float.infinity, far = Float.infinity
            var nearAxis = 0, farAxis = 0
            for axis in 0..<3 {
                if abs(d[axis]) < 1e-9 {
                    if abs(o[axis]) > half[axis] { return nil }
                    continue
                }
                let inverse = 1 / d[axis]
                var t0 = (-half[axis] - o[axis]) * inverse, t1 = (half[axis] - o[axis]) * inverse
                if t0 > t1 { swap(&t0, &t1) }
                if t0 > near { near = t0; nearAxis = axis }
                if t1 < far { far = t1; farAxis = axis }
                if near > far { return nil }
            }
            let (t, axis) = near > minimum ? (near, nearAxis) : (far, farAxis)
            guard t > minimum else { return nil }
            var local = Vector3.zero
            local[axis] = (o[axis] + t * d[axis]) > 0 ? 1 : -1
            return (t, yaw.apply(local))

        case .frustum(let bottomRadius, let topRadius, let height, let lying):
            var o = yaw.inverse(origin - centre), d = yaw.inverse(direction)
            if lying { o = Vector3(o.y, o.x, o.z); d = Vector3(d.y, d.x, d.z) }
            return intersectFrustum(o: o, d: d, r0: bottomRadius, r1: topRadius, height: height,
                                    minimum: minimum).map { hit in
                var n = hit.normal
                if lying { n = Vector3(n.y, n.x, n.z) }
                return (hit.t, yaw.apply(n))
            }

        case .capsule(let end, let radius):
            return intersectCapsule(origin: origin, direction: direction, a: centre, b: end, radius: radius,
                                    minimum: minimum)
        }
    }
}

/// Frustum along local y from -h/2 (radius r0) to +h/2 (radius r1), with both caps.
private func intersectFrustum(o: Vector3, d: Vector3, r0: Float, r1: Float, height: Float,
                              minimum: Float) -> (t: Float, normal: Vector3)? {
    let half = height / 2
    let slope = (r1 - r0) / height  // radius change per unit y
    var best: (t: Float, normal: Vector3)?
    // Side: x^2 + z^2 = (r0 + slope * (y + half))^2.
    let k = r0 + slope * (o.y + half)
    let a = d.x * d.x + d.z * d.z - slope * slope * d.y * d.y
    let b = o.x * d.x + o.z * d.z - slope * k * d.y
    let c = o.x * o.x + o.z * o.z - k * k
    if abs(a) > 1e-9 {
        let discriminant = b * b - a * c
        if discriminant >= 0 {
            let root = discriminant.squareRoot()
            for sign in [Float(-1), 1] {
                let t = (-b + sign * root) / a
                guard t > minimum else { continue }
                let p = o + t * d
                let radius = r0 + slope * (p.y + half)
                if abs(p.y) <= half, radius >= 0, best == nil || t < best!.t {
                    let n = normalized(Vector3(p.x, -slope * radius, p.z))
                    best = (t, n)
                }
            }
        }
    }
    // Caps.
    if abs(d.y) > 1e-9 {
        for ny in [Float(-1), 1] {
            let y = ny * half, radius = ny < 0 ? r0 : r1
            guard radius > 0 else { continue }
            let t = (y - o.y) / d.y
            guard t > minimum else { continue }
            let p = o + t * d
            if p.x * p.x + p.z * p.z <= radius * radius, best == nil || t < best!.t {
                best = (t, Vector3(0, ny, 0))
            }
        }
    }
    return best
}

private func intersectCapsule(origin: Vector3, direction: Vector3, a: Vector3, b: Vector3, radius: Float,
                              minimum: Float) -> (t: Float, normal: Vector3)? {
    let axis = b - a, offset = origin - a
    let axisLength2 = dot(axis, axis)
    let da = dot(direction, axis), oa = dot(offset, axis), od = dot(offset, direction)
    let qa = axisLength2 - da * da
    let qb = axisLength2 * od - oa * da
    let qc = axisLength2 * dot(offset, offset) - oa * oa - radius * radius * axisLength2
    var best: Float?
    let h = qb * qb - qa * qc
    if h >= 0, qa > 1e-12 {
        let root = h.squareRoot()
        for sign in [Float(-1), 1] {
            let t = (-qb + sign * root) / qa
            guard t > minimum else { continue }
            let y = oa + t * da
            if y > 0, y < axisLength2 { best = t; break }
        }
    }
    // The two end spheres.
    for centre in [a, b] {
        let oc = origin - centre
        let bb = dot(oc, direction), cc = dot(oc, oc) - radius * radius
        let disc = bb * bb - cc
        guard disc >= 0 else { continue }
        let root = disc.squareRoot()
        var t = -bb - root
        if t <= minimum { t = -bb + root }
        if t > minimum, best == nil || t < best! { best = t }
    }
    guard let t = best else { return nil }
    let p = origin + t * direction
    let along = min(max(dot(p - a, axis) / axisLength2, 0), 1)
    return (t, normalized(p - (a + along * axis)))
}
