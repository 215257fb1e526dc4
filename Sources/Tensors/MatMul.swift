import CBLAS

/// Row-major C = alpha * op(A) op(B) + beta * C: the one GEMM of the engine.
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

// MARK: threads and peak

/// The sgemm peak of this machine at `threads` threads, in GFLOP/s: the best of `repeats` timed
/// `gemm` calls on square `size` matrices after one warm-up call. The engine's benchmarks report
/// their throughput against it. Restores the previous thread count.
public func measureSgemmPeak(size: Int = 1024, threads: Int, repeats: Int = 5) -> Double {
    let previous = ComputeThreads.process
    ComputeThreads.set(threads)
    defer { ComputeThreads.set(previous) }
    var rng = SeededRandom(seed: 1)
    let a = (0..<(size * size)).map { _ in rng.uniform(-1, 1) }, b = (0..<(size * size)).map { _ in rng.uniform(-1, 1) }
    var c = [Float](repeating: 0, count: size * size)
    let clock = ContinuousClock()
    var best = Double.infinity
    for call in 0...repeats {
        let start = clock.now
        sgemm(transposeA: false, transposeB: false, m: size, n: size, k: size, a: a, b: b, beta: 0, c: &c)
        if call > 0 { best = min(best, (clock.now - start).inSeconds) }
    }
    return 2 * Double(size) * Double(size) * Double(size) / best / 1e9
}

extension Duration {
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
