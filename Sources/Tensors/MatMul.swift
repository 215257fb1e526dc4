import CBLAS

/// Row-major C = alpha * op(A) op(B) + beta * C: the one GEMM of the engine and the tape.
/// op(A) is m x k, op(B) is k x n, with explicit leading dimensions (so a GEMM can read and write
/// strided slices, as attention's per-head blocks of the qkv rows).
///
/// OpenBLAS always computes on one thread (set before the first GEMM); a GEMM large enough is
/// split here instead, into blocks of C's rows that the compute threads share. The engine's own
/// loops use the same threads, so no second pool of OpenBLAS workers spins beside them.
///
/// The blocks depend on the shape alone, never on the thread count: a 1-thread run makes the
/// same `cblas_sgemm` calls, one after another, that a 4-thread run makes side by side. Every
/// element of C therefore comes out of the same call with the same shape, and with it the same
/// kernel code path, whatever kernels OpenBLAS picked for this CPU: its AVX-512 builds choose
/// between a direct, a "small matrix" and the packed kernel by m, n and k, so a split that
/// followed the threads gave other bits at other thread counts there (issue 18).
public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    _ = openBLASOnOneThread
    guard k > 0 else {
        for row in 0..<m {
            let r = c + row * ldc
            if beta == 0 { r.update(repeating: 0, count: n) } else if beta != 1 { for j in 0..<n { r[j] *= beta } }
        }
        return
    }
    let blocks = gemmRowBlocks(m: m, n: n, k: k)
    func block(_ index: Int) {
        let rows = blocks == 1 ? 0..<m : gemmRowRange(block: index, of: blocks, rows: m)
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(rows.count), Int32(n), Int32(k), alpha,
                    transposeA ? a + rows.lowerBound : a + rows.lowerBound * lda, Int32(lda), b, Int32(ldb),
                    beta, c + rows.lowerBound * ldc, Int32(ldc))
    }
    if blocks == 1 { block(0); return }
    parallelChunks(blocks) { _, range in for index in range { block(index) } }
}

/// How many row blocks `gemm` splits an m x n x k product into: a function of the shape only.
/// Below about a quarter of a million multiply-adds a split costs more than it saves; above,
/// up to `gemmMaxBlocks` blocks of at least `gemmRowGroup` rows each.
func gemmRowBlocks(m: Int, n: Int, k: Int) -> Int {
    m * n * k < 1 << 18 ? 1 : max(1, min(gemmMaxBlocks, m / gemmRowGroup))
}

/// The rows of block `index` of `blocks`: every block but the last starts and ends on a multiple
/// of `gemmRowGroup` rows (OpenBLAS's micro-kernel tiles then fall on the same rows as in the
/// unsplit product, which keeps most kernels' bits; the calls being fixed is what guarantees it).
func gemmRowRange(block index: Int, of blocks: Int, rows m: Int) -> Range<Int> {
    let groups = m / gemmRowGroup
    let start = index * groups / blocks * gemmRowGroup
    let end = index == blocks - 1 ? m : (index + 1) * groups / blocks * gemmRowGroup
    return start..<end
}

/// The row granularity of `gemm`'s split (see `gemmRowRange`).
let gemmRowGroup = 48

/// The most blocks `gemm` splits a product into: 4 keeps 1, 2 and 4 threads evenly loaded, and a
/// block of a split product still carries at least 2^16 multiply-adds.
let gemmMaxBlocks = 4

/// Sets OpenBLAS to one thread, once per process, before the first GEMM (a global's initializer
/// runs exactly once). OpenBLAS starts with a thread per core.
private let openBLASOnOneThread: Void = openblas_set_num_threads(1)

/// `gemm` on densely stored operands (leading dimensions from the shapes).
@inline(__always)
func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
           beta: Float, c: UnsafeMutablePointer<Float>) {
    gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
         a: a, lda: transposeA ? m : k, b: b, ldb: transposeB ? k : n, beta: beta, c: c, ldc: n)
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

/// The sgemm peak of this machine at `threads` threads, in GFLOP/s: the best of `repeats` timed
/// `gemm` calls on square `size` matrices after one warm-up call. The engine's benchmarks report
/// their throughput against it. Restores the previous thread count.
public func measureSgemmPeak(size: Int = 1024, threads: Int, repeats: Int = 5) -> Double {
    let previous = ComputeThreads.process
    ComputeThreads.set(threads)
    defer { ComputeThreads.set(previous) }
    var rng = SeededRandom(seed: 1)
    let a = Tensor.uniform([size, size], low: -1, high: 1, using: &rng)
    let b = Tensor.uniform([size, size], low: -1, high: 1, using: &rng)
    let c = Tensor.zeros([size, size])
    let clock = ContinuousClock()
    var best = Double.infinity
    for call in 0...repeats {
        let start = clock.now
        sgemm(transposeA: false, transposeB: false, m: size, n: size, k: size, a: a.data, b: b.data, beta: 0, c: c.data)
        if call > 0 { best = min(best, (clock.now - start).inSeconds) }
    }
    return 2 * Double(size) * Double(size) * Double(size) / best / 1e9
}

extension Duration {
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
