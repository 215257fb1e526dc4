import Dispatch
import Synchronization

/// The process's compute thread count: the most chunks `parallelChunks` splits the engine's loops
/// and `gemm` its GEMMs into. It starts at 1; the engine sets it once per run from the run's
/// config (tests never set it: they run side by side in one process). OpenBLAS itself stays at
/// one thread: its idle workers spin for a while after each threaded call, and on a machine with
/// as many cores as threads they took the cores from the engine's own parallel loops.
public enum ComputeThreads {
    private static let count = Atomic<Int>(1)

    /// The chunk count of `parallelChunks` and `gemm` for code running in this task (or on this
    /// thread), in place of the process's: 1 inside a parallel chunk, so work nested in a split
    /// runs on its own thread, and what a test sets to exercise a split without touching
    /// process-wide state.
    @TaskLocal public static var chunksInThisTask: Int?

    public static func set(_ threads: Int) {
        precondition(threads >= 1, "thread count \(threads)")
        count.store(threads, ordering: .relaxed)
    }

    /// The process's count (what `set` last set).
    public static var process: Int { count.load(ordering: .relaxed) }

    /// The chunk count for loops started here: this task's, else the process's.
    public static var current: Int { chunksInThisTask ?? process }
}

/// Runs `body` over 0..<count split into at most `ComputeThreads.current` contiguous chunks of
/// at least `minimumChunk` elements, in parallel (else in one call). Chunk boundaries depend
/// only on `count`, `minimumChunk` and the thread count, so a loop whose every output depends
/// on its own inputs alone gives the same bits at any thread count, and per-chunk partial
/// results combined in chunk order give the same bits on every run with the same threads.
public func parallelChunks(_ count: Int, minimumChunk: Int = 1, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
    let chunks = max(1, min(ComputeThreads.current, count / max(1, minimumChunk)))
    if chunks == 1 { body(0, 0..<count); return }
    withoutActuallyEscaping(body) { body in
        // The chunks write disjoint memory; the caller guarantees it, the compiler cannot see it.
        let shared = UncheckedSendable(value: body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            ComputeThreads.$chunksInThisTask.withValue(1) {
                shared.value(chunk, (chunk * count / chunks)..<((chunk + 1) * count / chunks))
            }
        }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable { let value: Value }

extension ComputeThreads {
    /// Runs `body(index)` for every index in 0..<count, spread over the compute threads, with
    /// every call computing on one thread (its `parallelChunks` and `gemm` do not split): for
    /// independent pieces of work that are each too small to split well inside. Each call gives
    /// the bits it gives in a 1-thread process, whatever the thread count.
    public static func spread(_ count: Int, _ body: (_ index: Int) -> Void) {
        guard current > 1, count > 1 else { for index in 0..<count { body(index) }; return }
        withoutActuallyEscaping(body) { body in
            // Each call writes only its own outputs; the caller guarantees it.
            let shared = UncheckedSendable(value: body)
            DispatchQueue.concurrentPerform(iterations: count) { index in
                $chunksInThisTask.withValue(1) { shared.value(index) }
            }
        }
    }
}
