import Foundation
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide settings for a run's computation.
public enum ComputeSetup {
    /// Sets the compute thread count (`Tensors.ComputeThreads`: OpenBLAS and the engine's own
    /// parallel loops) and keeps freed activation buffers in the heap: without it
    /// glibc returns every large buffer to the kernel and the next step page-faults it back in,
    /// which cost about a sixth of a training step.
    public static func configure(threads: Int) {
        ComputeThreads.set(max(1, threads))
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
