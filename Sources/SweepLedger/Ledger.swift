import Foundation
import GRDB
import RunContract
import SweepCore

/// The workspace's memory of every run: an SQLite database (WAL) that several `sweep`
/// processes may share. Every state change is one SQL statement, so the database, not
/// the processes, decides who owns a run.
public final class Ledger: Sendable {
    public let workspace: Workspace
    let database: DatabasePool

    /// Opens (creating when needed) the workspace directories and the ledger, and brings
    /// its schema up to date.
    public init(workspace: Workspace) throws {
        self.workspace = workspace
        let files = FileManager.default
        try files.createDirectory(at: workspace.root, withIntermediateDirectories: true)
        try files.createDirectory(at: workspace.root.appendingPathComponent("runs"), withIntermediateDirectories: true)
        var configuration = Configuration()
        // Another `sweep` may hold the write lock for a moment; wait instead of failing.
        configuration.busyMode = .timeout(30)
        configuration.label = "sweep-ledger"
        // Two `sweep` processes opening a new workspace at once would both see an empty schema
        // and both create the tables; a file lock makes creation and migration one at a time.
        let lock = try FileLock(path: workspace.root.appendingPathComponent("ledger.lock").path)
        defer { lock.release() }
        database = try DatabasePool(path: workspace.ledger.path, configuration: configuration)
        try LedgerSchema.migrator.migrate(database)
    }

    /// The ledger of `workspace` when one exists; nil leaves the disk untouched (`sweep plan`
    /// must not create a workspace just to learn that nothing ran yet).
    public static func existing(workspace: Workspace) throws -> Ledger? {
        guard FileManager.default.fileExists(atPath: workspace.ledger.path) else { return nil }
        return try Ledger(workspace: workspace)
    }

    /// This machine's name as the ledger records owners.
    public static let currentHost: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    // MARK: planning

    /// Records the plan's runs (new ones as planned; known ones keep their state) and which
    /// runs make up the sweep `plan.name`. Registering the same plan twice changes nothing.
    public func register(_ plan: Plan) throws {
        let now = Date().timeIntervalSince1970
        try database.write { db in
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO run (id, run_group, label, seed, config, needs, axes, planned_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET
                    run_group = excluded.run_group, label = excluded.label, seed = excluded.seed,
                    config = excluded.config, needs = excluded.needs, axes = excluded.axes
                """)
            for run in plan.runs {
                let needs = JSONValue.object(run.needs.mapValues { .string($0.rawValue) })
                try upsert.execute(arguments: [
                    run.id.rawValue, run.group, run.label, run.seed, run.config.canonical,
                    needs.canonical, JSONValue.object(run.axes).canonical, now,
                ])
            }
            try db.execute(sql: "DELETE FROM sweep_run WHERE sweep = ?", arguments: [plan.name])
            let member = try db.cachedStatement(sql: "INSERT INTO sweep_run (sweep, position, run_id) VALUES (?, ?, ?)")
            for (position, run) in plan.runs.enumerated() {
                try member.execute(arguments: [plan.name, position, run.id.rawValue])
            }
        }
    }

    // MARK: state changes

    /// Atomically takes ownership of a run for this process; false when another process
    /// owns it or its state does not allow another attempt. Claimable: planned, interrupted
    /// and skipped runs; failed runs while their failures are within `retries`; with `rerun`,
    /// every run that is not running right now.
    public func claim(_ id: RunID, pid: Int32, host: String, retries: Int, rerun: Bool) throws -> Bool {
        try database.write { db in
            try db.execute(sql: """
                UPDATE run SET status = 'running', attempts = attempts + 1, owner_pid = ?, host = ?,
                    earlier_seconds = CASE WHEN ? THEN 0
                        ELSE earlier_seconds + MAX(0, COALESCE(finished_at - started_at, 0)) END,
                    started_at = ?, finished_at = NULL, exit_code = NULL, stderr_tail = NULL, reason = NULL,
                    batch_job = NULL
                WHERE id = ? AND (
                    status IN ('planned', 'interrupted', 'skipped')
                    OR (status = 'failed' AND failures <= ?)
                    OR (? AND status <> 'running'))
                """, arguments: [pid, host, rerun, Date().timeIntervalSince1970, id.rawValue, retries, rerun])
            return db.changesCount == 1
        }
    }

    /// Records how a claimed run ended: the latest attempt's exit code, stderr tail, reason and
    /// metrics replace the previous attempt's; a failure counts against the retry budget.
    /// `at` is when it ended (a batch task's end is learnt later).
    public func finish(_ id: RunID, status: RunStatus, exitCode: Int32?, stderrTail: String?,
                       metrics: RunMetrics?, reason: String?, at end: Date = Date()) throws {
        let metricsJSON = try metrics.map { String(decoding: try ContractJSON.encoder().encode($0), as: UTF8.self) }
        try database.write { db in
            try db.execute(sql: """
                UPDATE run SET status = ?, exit_code = ?, stderr_tail = ?, reason = ?, metrics = ?,
                    train_seconds = ?, epoch_count = ?, failures = failures + ?, finished_at = ?
                WHERE id = ?
                """, arguments: [
                    status.rawValue, exitCode, stderrTail, reason, metricsJSON,
                    metrics.map { $0.epochSeconds.reduce(0, +) }, metrics?.epochSeconds.count,
                    status == .failed ? 1 : 0, end.timeIntervalSince1970, id.rawValue,
                ])
        }
    }

    /// Records as succeeded an interrupted run whose attempt `attempt` (the count `claim` left)
    /// finished after the `sweep` that started it ended: its engine wrote a valid metrics.json
    /// and exited 0 (the local executor's exit-status file says so). False, changing nothing,
    /// when the run is no longer interrupted at that attempt (another `sweep` claimed it meanwhile).
    @discardableResult
    public func adopt(_ id: RunID, attempt: Int, metrics: RunMetrics, endedAt end: Date) throws -> Bool {
        let metricsJSON = String(decoding: try ContractJSON.encoder().encode(metrics), as: UTF8.self)
        return try database.write { db in
            try db.execute(sql: """
                UPDATE run SET status = 'succeeded', exit_code = 0, stderr_tail = NULL, metrics = ?,
                    train_seconds = ?, epoch_count = ?, finished_at = ?,
                    reason = 'finished by its engine after its sweep process ended; adopted from the run directory'
                WHERE id = ? AND status = 'interrupted' AND attempts = ?
                """, arguments: [
                    metricsJSON, metrics.epochSeconds.reduce(0, +), metrics.epochSeconds.count,
                    end.timeIntervalSince1970, id.rawValue, attempt,
                ])
            return db.changesCount == 1
        }
    }

    /// Marks a run skipped (a dependency failed). A run that is running or already succeeded
    /// keeps its state: a skip never erases work.
    public func skip(_ id: RunID, reason: String) throws {
        try database.write { db in
            try db.execute(sql: """
                UPDATE run SET status = 'skipped', reason = ?, finished_at = ?
                WHERE id = ? AND status NOT IN ('running', 'succeeded')
                """, arguments: [reason, Date().timeIntervalSince1970, id.rawValue])
        }
    }

    /// Hands claimed runs to a batch system: from now on they are followed through their jobs
    /// (`batchRuns`), not through the pid that claimed them.
    public func recordBatchJobs(_ jobs: [RunID: String]) throws {
        try database.write { db in
            let update = try db.cachedStatement(sql: "UPDATE run SET batch_job = ? WHERE id = ? AND status = 'running'")
            for (id, job) in jobs.sorted(by: { $0.key < $1.key }) {
                try update.execute(arguments: [job, id.rawValue])
            }
        }
    }

    /// Running runs held by a batch system, with their jobs ("1234_7"), by run id.
    public func batchRuns() throws -> [RunID: String] {
        try valuesByRun(sql: "SELECT id, batch_job FROM run WHERE status = 'running' AND batch_job IS NOT NULL")
    }

    /// The second column of `sql`'s rows by the run id in the first.
    private func valuesByRun<Value: DatabaseValueConvertible>(sql: String) throws -> [RunID: Value] {
        try database.read { db in
            var values: [RunID: Value] = [:]
            let rows = try Row.fetchCursor(db, sql: sql)
            while let row = try rows.next() { values[RunID(rawValue: row[0])] = row[1] }
            return values
        }
    }

    /// Runs left "running" by a process that no longer exists on `host` become interrupted,
    /// so the next `sweep run` launches them again (the engine resumes from its checkpoint).
    /// Runs owned on other hosts are left alone: their owners cannot be checked from here, and
    /// so are runs handed to a batch system (their `sweep` ends once they are submitted).
    @discardableResult
    public func recoverOrphans(host: String) throws -> [RunID] {
        try database.write { db in
            let running = try Row.fetchAll(db, sql: """
                SELECT id, owner_pid FROM run WHERE status = 'running' AND host = ? AND batch_job IS NULL
                """, arguments: [host])
            var recovered: [RunID] = []
            for row in running {
                let pid: Int32? = row["owner_pid"]
                if let pid, Self.processExists(pid) { continue }
                let id: String = row["id"]
                try db.execute(sql: """
                    UPDATE run SET status = 'interrupted', finished_at = ?,
                        reason = 'its sweep process (pid ' || COALESCE(owner_pid, '?') || ') ended while it ran'
                    WHERE id = ? AND status = 'running'
                    """, arguments: [Date().timeIntervalSince1970, id])
                recovered.append(RunID(rawValue: id))
            }
            return recovered.sorted()
        }
    }

    /// Interrupted runs with their attempt counts: the candidates for `adopt`.
    public func interruptedAttempts() throws -> [RunID: Int] {
        try valuesByRun(sql: "SELECT id, attempts FROM run WHERE status = 'interrupted'")
    }

    static func processExists(_ pid: Int32) -> Bool {
        // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
        kill(pid, 0) == 0 || errno == EPERM
    }

    // MARK: reading

    public func record(_ id: RunID) throws -> RunRecord? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT \(RunRecord.columns) FROM run WHERE id = ?", arguments: [id.rawValue])
                .map(RunRecord.init(row:))
        }
    }

    public func records(_ ids: [RunID]) throws -> [RunID: RunRecord] {
        try database.read { db in
            var found: [RunID: RunRecord] = [:]
            // SQLite caps bound parameters; ask in chunks.
            for chunk in ids.chunked(into: 500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try Row.fetchCursor(db, sql: "SELECT \(RunRecord.columns) FROM run WHERE id IN (\(marks))",
                                               arguments: StatementArguments(chunk.map(\.rawValue)))
                while let row = try rows.next() {
                    let record = try RunRecord(row: row)
                    found[record.id] = record
                }
            }
            return found
        }
    }

    /// Every run the ledger knows, ordered by id.
    public func allRecords() throws -> [RunRecord] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT \(RunRecord.columns) FROM run ORDER BY id").map(RunRecord.init(row:))
        }
    }
}

extension Array {
    func chunked(into size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0 ..< Swift.min($0 + size, count)] }
    }
}

/// An exclusive advisory lock (flock) on a file, held until `release`.
struct FileLock {
    private let descriptor: Int32

    init(path: String) throws {
        descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let code = errno
                close(descriptor)
                throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
            }
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
