import Testing
@testable import Tensors

/// `gemm` splits a large product into blocks of C's rows that the compute threads share, each
/// computed by single-threaded OpenBLAS. The blocks are a function of the shape alone, so every
/// thread count makes the same `cblas_sgemm` calls: the same bits whatever kernels OpenBLAS
/// picked (these tests never set OPENBLAS_CORETYPE), for every transpose, odd sizes, strided
/// operands, alpha and beta.
@Suite struct GEMMTests {
    /// The partition: consecutive, covering every row once, 48-row aligned, at most 4 blocks,
    /// none for small products. It takes no thread count, which is what makes the bits
    /// independent of the threads on every CPU.
    @Test func blocksDependOnTheShapeAlone() {
        #expect(gemmRowBlocks(m: 4096, n: 8, k: 7) == 1)          // under 2^18 multiply-adds
        #expect(gemmRowBlocks(m: 95, n: 512, k: 512) == 1)        // fewer than two 48-row groups
        #expect(gemmRowBlocks(m: 100, n: 512, k: 512) == 2)
        #expect(gemmRowBlocks(m: 2048, n: 96, k: 288) == 4)
        for m in [96, 97, 143, 200, 1000, 2048, 4099] {
            let blocks = gemmRowBlocks(m: m, n: 256, k: 256)
            let ranges = (0..<blocks).map { gemmRowRange(block: $0, of: blocks, rows: m) }
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == m)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(ranges.allSatisfy { !$0.isEmpty && $0.lowerBound % gemmRowGroup == 0 })
        }
    }

    struct Shape: CustomTestStringConvertible {
        let m, n, k: Int
        let transposeA, transposeB: Bool
        var testDescription: String { "\(m)x\(n)x\(k)\(transposeA ? " Aᵀ" : "")\(transposeB ? " Bᵀ" : "")" }
    }

    /// Random shapes from 96 to 1,100 rows (so at least two 48-row blocks), every transpose, k up
    /// to 900 (past OpenBLAS's blocking of k).
    static let shapes: [Shape] = {
        var random = SeededRandom(seed: 12)
        return (0..<12).map { index in
            Shape(m: 96 + Int(random.uniform(0, 1000)), n: 1 + Int(random.uniform(0, 300)),
                  k: 1 + Int(random.uniform(0, 900)), transposeA: index % 2 == 1, transposeB: index / 2 % 2 == 1)
        }
    }()

    @Test(arguments: shapes, [2, 3, 5])
    func everyThreadCountGivesTheSameBits(shape: Shape, threads: Int) {
        let (m, n, k) = (shape.m, shape.n, shape.k)
        // Stored with 3 spare columns, so every leading dimension exceeds the row it holds.
        let lda = (shape.transposeA ? m : k) + 3, ldb = (shape.transposeB ? k : n) + 3, ldc = n + 3
        var random = SeededRandom(seed: 7)
        let a = (0..<((shape.transposeA ? k : m) * lda)).map { _ in random.uniform(-1, 1) }
        let b = (0..<((shape.transposeB ? n : k) * ldb)).map { _ in random.uniform(-1, 1) }
        let c0 = (0..<(m * ldc)).map { _ in random.uniform(-1, 1) }
        func product(chunks: Int) -> [Float] {
            var c = c0
            ComputeThreads.$chunksInThisTask.withValue(chunks) {
                gemm(transposeA: shape.transposeA, transposeB: shape.transposeB, m: m, n: n, k: k, alpha: 0.75,
                     a: a, lda: lda, b: b, ldb: ldb, beta: 0.5, c: &c, ldc: ldc)
            }
            return c
        }
        let whole = product(chunks: 1), split = product(chunks: threads)
        let differing = zip(whole, split).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0, "\(differing) of \(whole.count) elements differ")
        // The spare columns of C are untouched; the product itself is right (to rounding).
        for row in 0..<m {
            for column in n..<ldc { #expect(whole[row * ldc + column] == c0[row * ldc + column]) }
        }
        for (row, column) in [(0, 0), (m - 1, n - 1), (m / 2, n / 3)] {
            var sum: Double = 0
            for p in 0..<k {
                let x = shape.transposeA ? a[p * lda + row] : a[row * lda + p]
                let y = shape.transposeB ? b[column * ldb + p] : b[p * ldb + column]
                sum += Double(x) * Double(y)
            }
            let expected = 0.75 * sum + 0.5 * Double(c0[row * ldc + column])
            #expect(abs(Double(whole[row * ldc + column]) - expected) < 1e-4)
        }
    }
}
