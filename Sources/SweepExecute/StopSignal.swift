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
/// The engines run in their own process groups, so the terminal's Ctrl-C reaches only `sweep`,
/// which then stops them itself and records them as interrupted. A signal that was already
/// ignored when it was first trapped (`nohup` ignores SIGHUP, a shell ignores SIGINT for
/// background jobs) stays ignored. After `cancel`, the signals act as they did before again.
public final class SignalTrap: Sendable {
    /// The signals actually trapped (those not ignored on entry).
    public let signals: [Int32]
    private let stop: StopSignal
    private let cancelled = Mutex(false)

    public init(signals: [Int32] = [SIGINT, SIGTERM, SIGHUP], stop: StopSignal) {
        self.stop = stop
        self.signals = SignalRouter.shared.route(signals, to: stop)
    }

    public func cancel() {
        let first = cancelled.withLock { done in
            defer { done = true }
            return !done
        }
        if first { SignalRouter.shared.unroute(signals, from: stop) }
    }

    deinit { cancel() }
}

/// One dispatch signal source per signal for the life of the process. libdispatch on Linux
/// installs its own handler the first time a signal gets a source and never again, so sources
/// are not torn down and rebuilt per trap: the router sends each signal to the newest trap, and
/// with no trap it restores the default action and delivers the signal again.
final class SignalRouter: Sendable {
    static let shared = SignalRouter()

    private struct State {
        var sources: [Int32: any DispatchSourceSignal] = [:]
        var ignoredOnEntry: Set<Int32> = []
        /// Traps by signal, newest last.
        var targets: [Int32: [StopSignal]] = [:]
    }
    private let state = Mutex(State())

    /// Returns the signals routed (those not ignored on entry).
    func route(_ signals: [Int32], to stop: StopSignal) -> [Int32] {
        state.withLock { state in
            signals.filter { number in
                if state.ignoredOnEntry.contains(number) { return false }
                if state.sources[number] == nil {
                    // Ignored until libdispatch's handler is in place, so an early signal cannot kill us.
                    let previous = signal(number, SIG_IGN)
                    // SIG_IGN is the handler value 1 (SIG_DFL is 0, seen from Swift as nil).
                    if let previous, unsafeBitCast(previous, to: Int.self) == 1 {
                        state.ignoredOnEntry.insert(number)
                        return false
                    }
                    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                    source.setEventHandler { [unowned self] in self.deliver(number) }
                    source.resume()
                    state.sources[number] = source
                }
                state.targets[number, default: []].append(stop)
                return true
            }
        }
    }

    func unroute(_ signals: [Int32], from stop: StopSignal) {
        state.withLock { state in
            for number in signals {
                if let index = state.targets[number]?.lastIndex(where: { $0 === stop }) {
                    state.targets[number]?.remove(at: index)
                }
            }
        }
    }

    private func deliver(_ number: Int32) {
        if let stop = state.withLock({ $0.targets[number]?.last }) {
            stop.request(.signal(number))
        } else {
            // Nobody is trapping it now: act as if it had never been trapped.
            signal(number, SIG_DFL)
            kill(getpid(), number)
        }
    }
}
