import Dispatch
import Foundation
import Synchronization

/// A one-way switch that many tasks can wait for: set once, every waiter wakes.
/// A waiting task that is cancelled wakes as well, so task groups racing on it can end.
final class Latch: Sendable {
    private struct State {
        var isSet = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<Int> = []
        var nextWaiter = 0
    }
    private let state = Mutex(State())

    var isSet: Bool { state.withLock { $0.isSet } }

    /// Returns true when this call set it.
    @discardableResult
    func set() -> Bool {
        let waiters: [CheckedContinuation<Void, Never>]? = state.withLock { state in
            guard !state.isSet else { return nil }
            state.isSet = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        waiters?.forEach { $0.resume() }
        return waiters != nil
    }

    /// Returns once the latch is set or the calling task is cancelled.
    func wait() async {
        let ticket = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.isSet || state.cancelled.remove(ticket) != nil { return true }
                    state.waiters[ticket] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state in
                if let waiting = state.waiters.removeValue(forKey: ticket) { return Optional(waiting) }
                // Cancelled before it started waiting: let `wait` return at once when it does.
                if !state.isSet { state.cancelled.insert(ticket) }
                return nil
            }
            continuation?.resume()
        }
    }
}

/// Asks a running `execute` to stop: no further launches, running runs are terminated gracefully
/// (SIGTERM to their process group, SIGKILL after the grace period) and recorded interrupted.
/// A second request is urgent: running runs are killed at once.
public final class StopSignal: Sendable {
    private let reasonStore = Mutex<StopReason?>(nil)
    let stopping = Latch()
    let urgent = Latch()

    public init() {}

    public func request(_ reason: StopReason) {
        let first = reasonStore.withLock { stored in
            if stored == nil { stored = reason; return true }
            return false
        }
        if first { stopping.set() } else { urgent.set() }
    }

    /// The first request's reason, once requested.
    public var reason: StopReason? { reasonStore.withLock { $0 } }
    public var isRequested: Bool { stopping.isSet }
}

/// Turns SIGINT, SIGTERM and SIGHUP (the terminal closed) into stop requests while it lives.
/// The signals' default actions are ignored meanwhile: the engines run in their own process
/// groups, so the terminal's Ctrl-C reaches only `sweep`, which then stops them itself and
/// records them as interrupted. A signal that was already ignored when the trap was set (`nohup`
/// ignores SIGHUP, a shell ignores SIGINT for background jobs) stays ignored.
public final class SignalTrap: @unchecked Sendable {
    // Immutable after init; DispatchSource handles are thread-safe to cancel.
    private let sources: [any DispatchSourceSignal]
    /// The signals actually trapped (those not ignored on entry).
    public let signals: [Int32]
    private let cancelled = Mutex(false)

    public init(signals: [Int32] = [SIGINT, SIGTERM, SIGHUP], stop: StopSignal) {
        var trapped: [Int32] = []
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            let previous = signal(number, SIG_IGN)
            // SIG_IGN is the handler value 1 (SIG_DFL is 0, seen from Swift as nil).
            if let previous, unsafeBitCast(previous, to: Int.self) == 1 { continue }
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.request(.signal(number)) }
            source.resume()
            trapped.append(number)
            sources.append(source)
        }
        self.signals = trapped
        self.sources = sources
    }

    /// Restores the default actions; `sweep` is interruptible in the ordinary way again.
    public func cancel() {
        let first = cancelled.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        sources.forEach { $0.cancel() }
        signals.forEach { signal($0, SIG_DFL) }
    }

    deinit { cancel() }
}
