#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: broadcasting (NumPy rules: align trailing dims; size-1 dims stretch)

/// The index arithmetic of a broadcast binary op, computed once per call.
/// The output is walked row by row (a row = the last dimension), so the inner
/// loops stay plain strided loops.
struct Broadcast {
    let shape: [Int]
    let stridesA: [Int]
    let stridesB: [Int]

    init(_ a: [Int], _ b: [Int]) {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        var shape = [Int](repeating: 1, count: rank)
        for d in 0..<rank {
            precondition(pa[d] == pb[d] || pa[d] == 1 || pb[d] == 1,
                         "shapes \(a) and \(b) do not broadcast")
            shape[d] = max(pa[d], pb[d])
        }
        self.shape = shape
        stridesA = Broadcast.strides(pa)
        stridesB = Broadcast.strides(pb)
    }

    /// Row-major strides with 0 for size-1 (stretched) dimensions.
    static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: shape.count)
        var s = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = shape[d] == 1 ? 0 : s
            s *= shape[d]
        }
        return strides
    }

    var rowLength: Int { shape.last ?? 1 }
    var rowStrideA: Int { stridesA.last ?? 0 }
    var rowStrideB: Int { stridesB.last ?? 0 }

    /// Calls `body(outOffset, aOffset, bOffset)` for the start of every output row.
    func forEachRow(_ body: (Int, Int, Int) -> Void) {
        Tensors.forEachRow(shape: shape, stridesA, stridesB, body)
    }
}

/// Walks a row-major `shape` one row (last dimension) at a time, calling
/// `body(outOffset, offset1, offset2)` where offsetN = sum(index[d] * stridesN[d])
/// over all but the last dimension. Broadcasting and permutes are both this walk.
func forEachRow(shape: [Int], _ strides1: [Int], _ strides2: [Int], _ body: (Int, Int, Int) -> Void) {
    let rank = shape.count
    guard rank > 1 else { body(0, 0, 0); return }
    let rowLength = shape[rank - 1]
    let rows = shape.dropLast().reduce(1, *)
    guard rows > 0 else { return }
    var index = [Int](repeating: 0, count: rank - 1)
    var off1 = 0, off2 = 0
    for row in 0..<rows {
        body(row * rowLength, off1, off2)
        var d = rank - 2
        while d >= 0 {
            index[d] += 1
            off1 += strides1[d]
            off2 += strides2[d]
            if index[d] < shape[d] { break }
            off1 -= strides1[d] * shape[d]
            off2 -= strides2[d] * shape[d]
            index[d] = 0
            d -= 1
        }
    }
}

// MARK: add, subtract, multiply

/// a + b with broadcasting.
public func + (a: Tensor, b: Tensor) -> Tensor { add(a, b, scaleB: 1) }

/// a - b with broadcasting.
public func - (a: Tensor, b: Tensor) -> Tensor { add(a, b, scaleB: -1) }

/// a + scaleB * b; the one loop behind `+` and `-`.
func add(_ a: Tensor, _ b: Tensor, scaleB: Float) -> Tensor {
    if a.shape == b.shape {
        let y = Tensor(uninitialized: a.shape)
        let n = y.count, pa = a.data, pb = b.data, py = y.data
        for i in 0..<n { py[i] = pa[i] + scaleB * pb[i] }
        y.record(a, b) { y in
            let gy = y.grad!
            if let ga = a.gradSink() { for i in 0..<n { ga[i] += gy[i] } }
            if let gb = b.gradSink() { for i in 0..<n { gb[i] += scaleB * gy[i] } }
        }
        return y
    }
    let plan = Broadcast(a.shape, b.shape)
    let y = Tensor(uninitialized: plan.shape)
    let len = plan.rowLength, sa = plan.rowStrideA, sb = plan.rowStrideB
    let pa = a.data, pb = b.data, py = y.data
    plan.forEachRow { o, oa, ob in
        for j in 0..<len { py[o + j] = pa[oa + j * sa] + scaleB * pb[ob + j * sb] }
    }
    y.record(a, b) { y in
        let gy = y.grad!
        let ga = a.gradSink(), gb = b.gradSink()
        plan.forEachRow { o, oa, ob in
            if let ga { for j in 0..<len { ga[oa + j * sa] += gy[o + j] } }
            if let gb { for j in 0..<len { gb[ob + j * sb] += scaleB * gy[o + j] } }
        }
    }
    return y
}

/// a * b elementwise with broadcasting.
public func * (a: Tensor, b: Tensor) -> Tensor {
    if a.shape == b.shape {
        let y = Tensor(uninitialized: a.shape)
        let n = y.count, pa = a.data, pb = b.data, py = y.data
        for i in 0..<n { py[i] = pa[i] * pb[i] }
        y.record(a, b) { y in
            let gy = y.grad!, pa = a.data, pb = b.data
            if let ga = a.gradSink() { for i in 0..<n { ga[i] += gy[i] * pb[i] } }
            if let gb = b.gradSink() { for i in 0..<n { gb[i] += gy[i] * pa[i] } }
        }
        return y
    }
    let plan = Broadcast(a.shape, b.shape)
    let y = Tensor(uninitialized: plan.shape)
    let len = plan.rowLength, sa = plan.rowStrideA, sb = plan.rowStrideB
    let pa = a.data, pb = b.data, py = y.data
    plan.forEachRow { o, oa, ob in
        for j in 0..<len { py[o + j] = pa[oa + j * sa] * pb[ob + j * sb] }
    }
    y.record(a, b) { y in
        let gy = y.grad!, pa = a.data, pb = b.data
        let ga = a.gradSink(), gb = b.gradSink()
        plan.forEachRow { o, oa, ob in
            if let ga { for j in 0..<len { ga[oa + j * sa] += gy[o + j] * pb[ob + j * sb] } }
            if let gb { for j in 0..<len { gb[ob + j * sb] += gy[o + j] * pa[oa + j * sa] } }
        }
    }
    return y
}

/// x * s + t elementwise (scalars).
public func affine(_ x: Tensor, scale s: Float, shift t: Float = 0) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    let n = y.count, px = x.data, py = y.data
    for i in 0..<n { py[i] = px[i] * s + t }
    y.record(x) { y in
        let gy = y.grad!
        if let gx = x.gradSink() { for i in 0..<n { gx[i] += s * gy[i] } }
    }
    return y
}

public func * (x: Tensor, s: Float) -> Tensor { affine(x, scale: s) }
public func * (s: Float, x: Tensor) -> Tensor { affine(x, scale: s) }
public func + (x: Tensor, t: Float) -> Tensor { affine(x, scale: 1, shift: t) }
public prefix func - (x: Tensor) -> Tensor { affine(x, scale: -1) }

// MARK: activations

/// max(x, 0).
public func relu(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    reluForward(x.data, y.data, count: y.count)
    y.record(x) { y in
        if let gx = x.gradSink() { reluBackward(x.data, y.grad!, gx, count: y.count) }
    }
    return y
}

/// Exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's default, timm's Swin).
public func gelu(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape), derivative = Tensor(uninitialized: x.shape)
    geluForward(x.data, y.data, derivative: derivative.data, count: y.count)
    y.record(x) { y in
        if let gx = x.gradSink() { geluBackward(derivative: derivative.data, y.grad!, gx, count: y.count) }
    }
    return y
}

// Buffer-level kernels behind the tape ops, also called by the engine's layers. Backward
// kernels add into `dx`, so a caller that owns a fresh gradient passes zeros.

/// y = max(x, 0).
public func reluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
    parallelChunks(n, minimumChunk: 1 << 15) { _, range in
        for i in range { y[i] = max(x[i], 0) }
    }
}

/// dx += dy where x > 0; with `accumulate` false, dx = 0 + dy there and 0 elsewhere (the same
/// bits as adding into zeros, without zero-filling dx first). `x` may be the forward's input or
/// its output: both are > 0 at the same elements.
public func reluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                         count n: Int, accumulate: Bool = true) {
    parallelChunks(n, minimumChunk: 1 << 15) { _, range in
        forEachLanes(range) { i, valid in
            let base = accumulate ? load8(dx, i, valid) : SIMD8<Float>(repeating: 0)
            var sum = base + load8(dy, i, valid)
            sum.replace(with: base, where: .!(load8(x, i, valid) .> 0))
            store8(sum, dx, i, valid)
        }
    }
}

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

/// Logistic sigmoid 1 / (1 + e^-x).
public func sigmoid(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    let n = y.count, px = x.data, py = y.data
    for i in 0..<n { py[i] = stableSigmoid(px[i]) }
    y.record(x) { y in
        let gy = y.grad!, py = y.data
        if let gx = x.gradSink() { for i in 0..<n { gx[i] += gy[i] * py[i] * (1 - py[i]) } }
    }
    return y
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
