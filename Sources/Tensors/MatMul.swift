import CBLAS

/// Row-major C = alpha * op(A) op(B) + beta * C through OpenBLAS.
/// op(A) is m x k, op(B) is k x n; leading dimensions follow from the stored layouts.
@inline(__always)
func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
           beta: Float, c: UnsafeMutablePointer<Float>) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
        if beta == 0 { c.update(repeating: 0, count: m * n) } else if beta != 1 {
            for i in 0..<(m * n) { c[i] *= beta }
        }
        return
    }
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(transposeA ? m : k),
                b, Int32(transposeB ? k : n),
                beta, c, Int32(n))
}

/// Matrix product over the last two dimensions: op(a) [..., M, K] x op(b) [..., K, N],
/// where op transposes when asked, times `scale`, plus an optional `bias` [N] added
/// to every row. (`scale` folds attention's 1/sqrt(d) into the GEMM.)
///
/// - If `b` is a matrix (rank 2) and `a` is not transposed, a's leading dimensions
///   fold into M: one GEMM (this is `linear`).
/// - Otherwise `a` and `b` carry the same leading (batch) dimensions and each batch
///   is one GEMM (attention: [B, heads, N, d] x [B, heads, d, N]).
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                   scale: Float = 1, bias: Tensor? = nil) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
    let aRows = a.shape[a.rank - 2], aCols = a.shape[a.rank - 1]
    let bRows = b.shape[b.rank - 2], bCols = b.shape[b.rank - 1]
    var m = transposeA ? aCols : aRows
    let k = transposeA ? aRows : aCols
    let n = transposeB ? bRows : bCols
    precondition(k == (transposeB ? bCols : bRows),
                 "matmul inner dimensions differ: \(a.shape)\(transposeA ? "^T" : "") x \(b.shape)\(transposeB ? "^T" : "")")
    let batchShape = Array(a.shape.dropLast(2))
    var batches = batchShape.reduce(1, *)
    if b.rank == 2 && !transposeA {
        m *= batches  // fold: [..., M, K] is a (batches * M) x K matrix
        batches = 1
    } else {
        precondition(Array(b.shape.dropLast(2)) == batchShape,
                     "matmul batch dimensions differ: \(a.shape) and \(b.shape)")
    }
    if let bias { precondition(bias.count == n, "bias \(bias.shape) for \(n) outputs") }
    let strideA = m * k, strideB = b.rank == 2 ? 0 : k * n, strideC = m * n

    let y = Tensor(uninitialized: batchShape + [transposeA ? aCols : aRows, n])
    if let bias {
        for row in 0..<(batches * m) { (y.data + row * n).update(from: bias.data, count: n) }
    }
    for i in 0..<batches {
        sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: scale,
              a: a.data + i * strideA, b: b.data + i * strideB,
              beta: bias == nil ? 0 : 1, c: y.data + i * strideC)
    }

    y.record(inputs: bias.map { [a, b, $0] } ?? [a, b]) { y in
        let gy = y.grad!
        if let ga = a.gradSink() {
            for i in 0..<batches {
                if transposeA {  // dA [K, M] = op(B) dY^T
                    sgemm(transposeA: transposeB, transposeB: true, m: k, n: m, k: n, alpha: scale,
                          a: b.data + i * strideB, b: gy + i * strideC, beta: 1, c: ga + i * strideA)
                } else {  // dA [M, K] = dY op(B)^T
                    sgemm(transposeA: false, transposeB: !transposeB, m: m, n: k, k: n, alpha: scale,
                          a: gy + i * strideC, b: b.data + i * strideB, beta: 1, c: ga + i * strideA)
                }
            }
        }
        if let gb = b.gradSink() {
            for i in 0..<batches {
                if transposeB {  // dB [N, K] = dY^T op(A)
                    sgemm(transposeA: true, transposeB: transposeA, m: n, n: k, k: m, alpha: scale,
                          a: gy + i * strideC, b: a.data + i * strideA, beta: 1, c: gb + i * strideB)
                } else {  // dB [K, N] = op(A)^T dY
                    sgemm(transposeA: !transposeA, transposeB: false, m: k, n: n, k: m, alpha: scale,
                          a: a.data + i * strideA, b: gy + i * strideC, beta: 1, c: gb + i * strideB)
                }
            }
        }
        if let bias, let gbias = bias.gradSink() {
            for row in 0..<(batches * m) {
                let r = gy + row * n
                for j in 0..<n { gbias[j] += r[j] }
            }
        }
    }
    return y
}

/// A fully connected layer on the last dimension: x [..., in] W^T + bias, with
/// `weight` [out, in] (PyTorch / timm layout, so safetensors weights load as is).
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    matmul(x, weight, transposeB: true, bias: bias)
}

// MARK: threads and peak

/// Achieved sgemm GFLOP/s on square `size` matrices at `threads` threads, timed over
/// at least `seconds` after one warm-up call. The engine's benchmarks report their
/// throughput against this number. Restores the previous thread count.
public func measureSgemmPeak(size: Int = 1024, threads: Int, seconds: Double = 1.0) -> Double {
    let previous = ComputeThreads.process
    ComputeThreads.set(threads)
    defer { ComputeThreads.set(previous) }
    var rng = SeededRandom(seed: 1)
    let a = Tensor.uniform([size, size], low: -1, high: 1, using: &rng)
    let b = Tensor.uniform([size, size], low: -1, high: 1, using: &rng)
    let c = Tensor.zeros([size, size])
    let run = {
        sgemm(transposeA: false, transposeB: false, m: size, n: size, k: size,
              a: a.data, b: b.data, beta: 0, c: c.data)
    }
    run()
    let clock = ContinuousClock()
    let start = clock.now
    var calls = 0
    var elapsed = 0.0
    repeat {
        run()
        calls += 1
        elapsed = (clock.now - start).inSeconds
    } while elapsed < seconds
    return 2 * Double(size) * Double(size) * Double(size) * Double(calls) / elapsed / 1e9
}

extension Duration {
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
