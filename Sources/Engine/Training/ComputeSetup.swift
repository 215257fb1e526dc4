import CBLAS
import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide settings for a run's computation.
public enum ComputeSetup {
    private static let threadCount = Atomic<Int>(1)

    /// Threads for the engine's own loops (attention, per-row kernels), as for OpenBLAS.
    public static var threads: Int { threadCount.load(ordering: .relaxed) }

    /// Sets OpenBLAS's thread count and keeps freed activation buffers in the heap: without it
    /// glibc returns every large buffer to the kernel and the next step page-faults it back in,
    /// which cost about a sixth of a training step.
    public static func configure(threads: Int) {
        openblas_set_num_threads(Int32(max(1, threads)))
        threadCount.store(max(1, threads), ordering: .relaxed)
        #if canImport(Glibc)
        // mallopt is not in Swift's Glibc module; glibc's option numbers are stable ABI.
        typealias MallocOption = @convention(c) (Int32, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            let mallopt = unsafeBitCast(symbol, to: MallocOption.self)
            let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3
            _ = mallopt(mmapThreshold, 1 << 30)
            _ = mallopt(trimThreshold, Int32.max)
        }
        #endif
    }
}

/// Runs `body` over 0..<count split into at most `ComputeSetup.threads` contiguous chunks, in
/// parallel. Chunk boundaries depend only on `count` and the thread count, so results that are
/// combined per chunk in chunk order are the same on every run with the same threads.
func parallelChunks(_ count: Int, minimumChunk: Int = 1, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
    let chunks = max(1, min(ComputeSetup.threads, count / max(1, minimumChunk)))
    if chunks == 1 { body(0, 0..<count); return }
    withoutActuallyEscaping(body) { body in
        // The chunks write disjoint memory; the caller guarantees it, the compiler cannot see it.
        let shared = UncheckedSendable(value: body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            shared.value(chunk, (chunk * count / chunks)..<((chunk + 1) * count / chunks))
        }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable { let value: Value }
