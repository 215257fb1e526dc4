import Foundation
import Synchronization

/// Set by SIGTERM or SIGINT; the training loop checks it between steps, saves a checkpoint and
/// stops, so `sweep` can terminate a run within seconds and resume it later.
public enum StopRequest {
    private static let flag = Atomic<Bool>(false)

    public static var isRequested: Bool { flag.load(ordering: .relaxed) }

    public static func request() { flag.store(true, ordering: .relaxed) }

    /// For tests that reuse the process.
    public static func reset() { flag.store(false, ordering: .relaxed) }

    /// Routes SIGTERM and SIGINT to the flag instead of killing the process.
    public static func installSignalHandlers() {
        signal(SIGTERM) { _ in StopRequest.request() }
        signal(SIGINT) { _ in StopRequest.request() }
    }
}

/// Thrown when a stop was requested; the run's checkpoint is usable.
public struct RunStopped: Error, CustomStringConvertible {
    public var epoch: Int
    public var step: Int
    public var description: String {
        // Epochs counted from 1, as `sweep`'s progress display counts them.
        "stopped by a signal in epoch \(epoch + 1), at step \(step); the checkpoint resumes from the start of that epoch"
    }
}
