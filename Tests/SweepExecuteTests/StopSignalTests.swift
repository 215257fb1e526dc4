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
        // SIGUSR2 stands in for SIGHUP under nohup: ignored before the trap is set.
        signal(SIGUSR2, SIG_IGN)
        let ignored = SignalTrap(signals: [SIGUSR2], stop: StopSignal())
        #expect(ignored.signals.isEmpty)
        ignored.cancel()
        let stillIgnored = signal(SIGUSR2, SIG_DFL)
        #expect(stillIgnored.map { unsafeBitCast($0, to: Int.self) } == 1)

        let trapped = SignalTrap(signals: [SIGUSR2], stop: StopSignal())
        #expect(trapped.signals == [SIGUSR2])
        trapped.cancel()
    }

    @Test func aTrappedSignalBecomesAStopRequest() async throws {
        let stop = StopSignal()
        let trap = SignalTrap(signals: [SIGUSR1], stop: stop)
        defer { trap.cancel() }
        kill(getpid(), SIGUSR1)
        for _ in 0..<500 where !stop.isRequested { try await Task.sleep(for: .milliseconds(10)) }
        #expect(stop.reason == .signal(SIGUSR1))
    }
}
