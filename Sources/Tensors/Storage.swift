import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An aligned block of Floats owned by one or more tensors (a reshape shares it).
/// Freed blocks go back to `StoragePool`, so a training loop that repeats the same
/// shapes every step reuses its buffers instead of asking the allocator (and the
/// kernel, for large blocks) for fresh pages each time.
final class Storage {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        self.pointer = StoragePool.shared.take(count: count)
    }

    deinit {
        StoragePool.shared.give(pointer, count: count)
    }
}

/// Free lists of buffers by exact element count, bounded by `capacityBytes`.
public final class StoragePool: Sendable {
    public static let shared = StoragePool()

    /// 64 bytes: a cache line, and enough for AVX-512 loads and FFTW's SIMD paths.
    static let alignment = 64

    private struct Address: @unchecked Sendable { let pointer: UnsafeMutablePointer<Float> }
    private struct State: ~Copyable {
        var free: [Int: [Address]] = [:]
        var pooledBytes = 0
        var capacityBytes = 1 << 30
    }
    private let state = Mutex(State())

    /// Upper bound on memory kept for reuse (default 1 GiB). Lowering it frees nothing
    /// immediately; call `drain()` for that.
    public var capacityBytes: Int {
        get { state.withLock { $0.capacityBytes } }
        set { state.withLock { $0.capacityBytes = newValue } }
    }

    /// Bytes currently held for reuse.
    public var pooledBytes: Int { state.withLock { $0.pooledBytes } }

    func take(count: Int) -> UnsafeMutablePointer<Float> {
        let reused: Address? = state.withLock { state in
            guard var list = state.free[count], let last = list.popLast() else { return nil }
            state.free[count] = list.isEmpty ? nil : list
            state.pooledBytes -= count * MemoryLayout<Float>.stride
            return last
        }
        if let reused { return reused.pointer }
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, Self.alignment, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        let bytes = count * MemoryLayout<Float>.stride
        let kept = state.withLock { state -> Bool in
            guard state.pooledBytes + bytes <= state.capacityBytes else { return false }
            state.free[count, default: []].append(Address(pointer: pointer))
            state.pooledBytes += bytes
            return true
        }
        if !kept { free(pointer) }
    }

    /// Frees every pooled buffer.
    public func drain() {
        let all = state.withLock { state -> [Address] in
            let all = state.free.values.flatMap { $0 }
            state.free = [:]
            state.pooledBytes = 0
            return all
        }
        for address in all { free(address.pointer) }
    }
}
