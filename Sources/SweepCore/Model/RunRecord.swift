import Foundation
import RunContract

public enum RunStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case planned, running, succeeded, failed, interrupted, skipped
}

/// What the ledger knows about one run.
public struct RunRecord: Sendable, Equatable {
    public var id: RunID
    public var status: RunStatus
    public var attempts: Int
    public var exitCode: Int32?
    public var stderrTail: String?
    /// Why a run was skipped or failed without an exit code (a failed dependency, a timeout, ...).
    public var reason: String?
    public var metrics: RunMetrics?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var ownerPID: Int32?
    public var host: String?
    /// Wall seconds of the attempts before the latest (`startedAt`) one, since it last started fresh.
    public var earlierSeconds: Double = 0

    public init(id: RunID, status: RunStatus = .planned, attempts: Int = 0, exitCode: Int32? = nil,
                stderrTail: String? = nil, reason: String? = nil, metrics: RunMetrics? = nil,
                startedAt: Date? = nil, finishedAt: Date? = nil, ownerPID: Int32? = nil, host: String? = nil) {
        self.id = id; self.status = status; self.attempts = attempts; self.exitCode = exitCode
        self.stderrTail = stderrTail; self.reason = reason; self.metrics = metrics
        self.startedAt = startedAt; self.finishedAt = finishedAt; self.ownerPID = ownerPID; self.host = host
    }
}

/// Where a sweep keeps its ledger and run directories.
public struct Workspace: Sendable, Hashable {
    public var root: URL

    public init(root: URL) { self.root = root }

    public var ledger: URL { root.appendingPathComponent("ledger.sqlite") }
    public func runDirectory(_ id: RunID) -> URL {
        root.appendingPathComponent("runs").appendingPathComponent(id.rawValue)
    }
}
