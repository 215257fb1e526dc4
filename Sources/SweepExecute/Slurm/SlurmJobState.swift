/// A Slurm job state as squeue and sacct name it (`squeue --format=%T`, `sacct --format=State`).
/// sacct may add words ("CANCELLED by 1000"); only the first counts.
public struct SlurmJobState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue.split(separator: " ").first.map { $0.uppercased() } ?? ""
    }

    public var description: String { rawValue }

    /// Queued, running, held or on its way to being run again: the task may still write to its
    /// run directory, so the run stays `running` in the ledger.
    public var isActive: Bool { Self.active.contains(rawValue) }

    static let active: Set<String> = [
        "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED",
        "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "SPECIAL_EXIT", "RESV_DEL_HOLD",
    ]

    /// How a task that ended in this state without an exit status of its own (or after it was told
    /// to stop) leaves its run. Nil for active states.
    var ending: TaskEnding? {
        switch rawValue {
        case "COMPLETED":
            return .failed("the array task completed without writing \(ExitStatusFile.name)")
        case "FAILED":
            return .failed("the array task failed before the engine ran (see the job's log in slurm/logs)")
        case "OUT_OF_MEMORY":
            return .failed("out of memory (Slurm OUT_OF_MEMORY); raise executor.mem")
        case "CANCELLED":
            return .interrupted("cancelled in Slurm (CANCELLED)")
        case "TIMEOUT":
            return .interrupted("reached its Slurm time limit (TIMEOUT); resumes from its checkpoint")
        case "PREEMPTED":
            return .interrupted("preempted by Slurm (PREEMPTED); resumes from its checkpoint")
        case "NODE_FAIL", "BOOT_FAIL":
            return .interrupted("its node failed (\(rawValue)); resumes from its checkpoint")
        case "DEADLINE", "REVOKED":
            return .interrupted("ended by Slurm (\(rawValue))")
        default:
            return isActive ? nil : .interrupted("ended by Slurm (\(rawValue))")
        }
    }

    enum TaskEnding: Equatable {
        case failed(String)
        case interrupted(String)
    }
}
