#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// y = x Phi(x) and its derivative Phi(x) + x phi(x) for the backward, 8 lanes at a time on
/// `fastErf`, split over the compute threads. Keeping the derivative costs one exponential
/// here and saves the backward recomputing erf.
public func geluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                        derivative: UnsafeMutablePointer<Float>, count n: Int) {
    let invSqrt2: Float = 0.70710678118654752, invSqrt2Pi: Float = 0.39894228040143268
    @inline(__always) func lanes(_ i: Int, _ valid: Int) {  // named: see forEachLanes
        let v = load8(x, i, valid)
        let erf = fastErf(v * invSqrt2)
        store8(0.5 * v * (1 + erf), y, i, valid)
        var slope = 0.5 * (1 + erf) + v * invSqrt2Pi * fastExp(-0.5 * v * v)
        slope.replace(with: 0, where: v .< geluTail)
        store8(slope, derivative, i, valid)
    }
    parallelChunks(n, minimumChunk: 1 << 15) { _, range in forEachLanes(range, lanes) }
    // Below -3, 1 + erf cancels to a few ulp of noise (even the wrong sign); the
    // complementary error function gives the tail exactly. Rare, so a second pass.
    for i in 0..<n where x[i] < geluTail {
        let v = x[i]
        y[i] = 0.5 * v * erfcf(-v * invSqrt2)
        derivative[i] = 0.5 * erfcf(-v * invSqrt2) + v * invSqrt2Pi * expf(-0.5 * v * v)
    }
}

/// dx += dy * the derivative `geluForward` kept; with `accumulate` false, dx = 0 + dy *
/// derivative (the same bits as adding into zeros, without zero-filling dx first).
public func geluBackward(derivative: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                         count n: Int, accumulate: Bool = true) {
    parallelChunks(n, minimumChunk: 1 << 15) { _, range in
        forEachLanes(range) { i, valid in
            let base = accumulate ? load8(dx, i, valid) : SIMD8<Float>(repeating: 0)
            store8(base + load8(dy, i, valid) * load8(derivative, i, valid), dx, i, valid)
        }
    }
}

/// Where GELU switches from 1 + erf to erfc (see `gelu`).
let geluTail: Float = -3

/// erf in single precision to within a few ulp, as a rational function evaluated
/// 8 lanes at a time (libm's erff is a scalar call, and GELU needs it for every
/// activation twice per step). The odd/even polynomial coefficients are those of
/// the float erf approximation used by Eigen and XLA; |x| >= 4 rounds to +-1 in Float.
@inline(__always)
func fastErf(_ value: SIMD8<Float>) -> SIMD8<Float> {
    var x = value
    x.replace(with: -4, where: x .< -4)
    x.replace(with: 4, where: x .> 4)
    let x2 = x * x
    var p = SIMD8<Float>(repeating: -2.72614225801306e-10)
    p = p * x2 + 2.77068142495902e-08
    p = p * x2 - 2.10102402082508e-06
    p = p * x2 - 5.69250639462346e-05
    p = p * x2 - 7.34990630326855e-04
    p = p * x2 - 2.95459980854025e-03
    p = p * x2 - 1.60960333262415e-02
    var q = SIMD8<Float>(repeating: -1.45660718464996e-05)
    q = q * x2 - 2.13374055278905e-04
    q = q * x2 - 1.68282697438203e-03
    q = q * x2 - 7.37332916720468e-03
    q = q * x2 - 1.42647390514189e-02
    return x * p / q
}

/// e^x to about 1 ulp, 8 lanes at a time (libm's expf is a scalar call): x = n ln2 + r
/// with |r| <= ln2 / 2, a degree-6 polynomial for e^r (Cephes' expf coefficients),
/// and 2^n written into the exponent bits. Arguments are clamped to [-87.3, 88]
/// (e^88 = 1.7e38), which softmax and GELU never reach from below zero.
@inline(__always)
func fastExp(_ value: SIMD8<Float>) -> SIMD8<Float> {
    var x = value
    x.replace(with: -87.3, where: x .< -87.3)
    x.replace(with: 88, where: x .> 88)
    // Adding 1.5 * 2^23 rounds x log2(e) to an integer n held in the low mantissa bits.
    let shifted = x * 1.44269504088896341 + 12582912
    let n = shifted - 12582912
    let r = x - n * 0.693359375 + n * 2.12194440e-4
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let er = p * r * r + r + 1
    let bits = unsafeBitCast(shifted, to: SIMD8<UInt32>.self)
    let exponent = (bits &- 0x4B40_0000 &+ 127) &<< 23
    return er * unsafeBitCast(exponent, to: SIMD8<Float>.self)
}

/// Applies `lanes(start, valid)` to `range` 8 elements at a time (the tail padded with
/// zeros), so pointwise kernels vectorise whatever the compiler's loop vectoriser decides.
/// Full groups pass a literal 8, so their loads and stores compile to plain vector moves.
/// A body longer than a line or two should be a named local `@inline(__always) func` passed
/// here rather than a closure literal: the compiler left such closures out of line, with
/// `valid` a variable and the vectors split in halves (GELU's forward ran 2.4x slower).
@inlinable @inline(__always)
public func forEachLanes(_ range: Range<Int>, _ lanes: (Int, Int) -> Void) {
    var i = range.lowerBound
    while i + 8 <= range.upperBound { lanes(i, 8); i += 8 }
    if i < range.upperBound { lanes(i, range.upperBound - i) }
}

/// The 8 values at p[i...], zeros past the first `valid`.
@inlinable @inline(__always)
public func load8<Scalar: SIMDScalar>(_ p: UnsafePointer<Scalar>, _ i: Int, _ valid: Int) -> SIMD8<Scalar> {
    if valid == 8 { return UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Scalar>.self) }
    var v = SIMD8<Scalar>()
    for j in 0..<valid { v[j] = p[i + j] }
    return v
}

/// Stores the first `valid` lanes of `v` at p[i...].
@inlinable @inline(__always)
public func store8<Scalar: SIMDScalar>(_ v: SIMD8<Scalar>, _ p: UnsafeMutablePointer<Scalar>, _ i: Int, _ valid: Int) {
    if valid == 8 { UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD8<Scalar>.self); return }
    for j in 0..<valid { p[i + j] = v[j] }
}

@inline(__always)
func stableSigmoid(_ v: Float) -> Float {
    if v >= 0 { return 1 / (1 + expf(-v)) }
    let e = expf(v)
    return e / (1 + e)
}
