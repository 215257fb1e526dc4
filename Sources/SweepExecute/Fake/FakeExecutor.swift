import Foundation
import RunContract
import SweepCore
import SweepLedger
import Synchronization

/// The scheduler and the real ledger with no processes: each attempt's outcome comes from a
/// script. For tests of scheduling, resume and ledger logic (here and in other targets).
///
/// ```swift
/// let executor = FakeExecutor(ledger: ledger) { attempt in
///     attempt.run.group == "pretrain" ? .failed(exitCode: 1, stderrTail: "boom", reason: nil)
///                                     : .succeeded(FakeExecutor.metrics())
/// }
/// ```
public struct FakeExecutor: Executor {
    public typealias Script = @Sendable (RunAttempt) async -> AttemptOutcome

    public let ledger: Ledger
    public var options: RunOptions
    private let launcher: ScriptedLauncher

    public init(ledger: Ledger, options: RunOptions = RunOptions(trapSignals: false),
                script: @escaping Script = { _ in .succeeded(FakeExecutor.metrics()) }) {
        self.ledger = ledger; self.options = options
        launcher = ScriptedLauncher(script: script)
    }

    /// Every attempt launched so far, in launch order.
    public var attempts: [RunAttempt] { launcher.log.withLock { $0 } }

    /// The most runs that were running at the same moment.
    public var peakConcurrency: Int { launcher.concurrency.withLock { $0.peak } }

    public func execute(_ plan: Plan, progress: (any ProgressSink)?, stop: StopSignal) async throws -> RunSummary {
        try await GridScheduler(plan: plan, ledger: ledger, launcher: launcher, options: options,
                                stop: stop, progress: progress).execute()
    }

    /// Plausible metrics for a scripted success.
    public static func metrics(semseg: Double = 50) -> RunMetrics {
        RunMetrics(engineVersion: "fake", tasks: ["semseg": TaskMetric(name: "mIoU", value: semseg, direction: .higher)],
                   parameters: ParameterCounts(trainable: 1, total: 2, decoder: 1, backbone: 1),
                   gmacs: 0, epochSeconds: [0])
    }
}

final class ScriptedLauncher: RunLauncher {
    let script: FakeExecutor.Script
    let log = Mutex<[RunAttempt]>([])
    let concurrency = Mutex<(now: Int, peak: Int)>((0, 0))

    init(script: @escaping FakeExecutor.Script) { self.script = script }

    func launch(_ attempt: RunAttempt, stop: StopSignal) async -> AttemptOutcome {
        log.withLock { $0.append(attempt) }
        concurrency.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
        defer { concurrency.withLock { $0.now -= 1 } }
        // A scripted run still ends when stopped, as a real one would.
        let outcome = await withTaskGroup(of: AttemptOutcome?.self) { group in
            group.addTask { await self.script(attempt) }
            group.addTask {
                await stop.stopping.wait()
                return Task.isCancelled ? nil : .interrupted(reason: stop.reason.map { "\($0)" } ?? "stopped")
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        return outcome ?? .interrupted(reason: "stopped")
    }
}
