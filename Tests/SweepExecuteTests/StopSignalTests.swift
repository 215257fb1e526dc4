import Foundation
@testable import SweepExecute
import Testing

@Suite struct StopSignalTests {
    @Test func theFirstRequestStopsAndTheSecondIsUrgent() {
        let stop = StopSignal()
        #expect(!stop.isRequested && stop.reason == nil)
        stop.request(.signal(SIGTERM))
        #expect(stop.isRequested && stop.reason == .signal(SIGTERM) && !stop.urgent.isSet)
        stop.request(.signal(SIGINT))
        #expect(stop.reason == .signal(SIGTERM) && stop.urgent.isSet)
    }

    @Test func waitersWakeWhenSetOrWhenCancelled() async {
        let latch = Latch()
        async let first: Void = latch.wait()
        async let second: Void = latch.wait()
        try? await Task.sleep(for: .milliseconds(20))
        #expect(latch.set())
        #expect(!latch.set())
        _ = await (first, second)
        await latch.wait()  // already set: returns at once

        let never = Latch()
        let waiter = Task { await never.wait() }
        waiter.cancel()
        await waiter.value
        #expect(!never.isSet)
    }

    @Test func aSignalIgnoredOnEntryStaysIgnored() {
        // SIGUSR2 stands in for SIGHUP under nohup: ignored before it is first trapped.
        signal(SIGUSR2, SIG_IGN)
        let ignored = SignalTrap(signals: [SIGUSR2], stop: StopSignal())
        #expect(ignored.signals.isEmpty)
        ignored.cancel()
        let stillIgnored = signal(SIGUSR2, SIG_IGN)
        #expect(stillIgnored.map { unsafeBitCast($0, to: Int.self) } == 1)
    }

    @Test func aTrappedSignalGoesToTheNewestTrapEveryTime() async throws {
        for _ in 0..<3 {
            let older = StopSignal(), newer = StopSignal()
            let outer = SignalTrap(signals: [SIGUSR1], stop: older)
            let inner = SignalTrap(signals: [SIGUSR1], stop: newer)
            #expect(inner.signals == [SIGUSR1])
            // libdispatch registers a new signal source asynchronously.
            try await Task.sleep(for: .milliseconds(50))
            kill(getpid(), SIGUSR1)
            for _ in 0..<500 where !newer.isRequested { try await Task.sleep(for: .milliseconds(10)) }
            #expect(newer.reason == .signal(SIGUSR1) && !older.isRequested)
            inner.cancel()
            outer.cancel()
        }
    }
}
