import Foundation
import GRDB
import RunContract
import SweepCore

/// The ledger's entry for a run as `sweep status` lists it: what the run is and where it stands, without its metrics
/// (decoding 10,000 metrics documents would dominate a status listing).
public struct RunEntry: Sendable, Equatable {
    public var id: RunID
    public var group: String
    public var label: String?
    public var seed: Int
    public var status: RunStatus
    public var attempts: Int
    /// Attempts that failed; the retry budget counts these.
    public var failures: Int
    public var exitCode: Int32?
    public var reason: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Sum of the engine's epoch times, for succeeded runs.
    public var trainSeconds: Double?
    public var ownerPID: Int32?
    public var host: String?
    /// The batch-system job of the latest attempt ("1234_7"), for runs submitted to Slurm.
    public var batchJob: String?
    /// Its grid axes (axis -> value), as the last plan that included it registered them.
    public var axes: [String: JSONValue]
    /// The end of the last attempt's stderr, as the ledger keeps it.
    public var stderrTail: String?
    /// Wall seconds of the attempts before the latest one (a resumed run's earlier parts).
    public var earlierSeconds: Double = 0

    public init(id: RunID, group: String, label: String? = nil, seed: Int, status: RunStatus = .planned,
                attempts: Int = 0, failures: Int = 0, exitCode: Int32? = nil, reason: String? = nil, startedAt: Date? = nil,
                finishedAt: Date? = nil, trainSeconds: Double? = nil, ownerPID: Int32? = nil, host: String? = nil,
                batchJob: String? = nil, axes: [String: JSONValue] = [:], stderrTail: String? = nil) {
        self.id = id; self.group = group; self.label = label; self.seed = seed; self.status = status
        self.attempts = attempts; self.failures = failures; self.exitCode = exitCode; self.reason = reason; self.startedAt = startedAt
        self.finishedAt = finishedAt; self.trainSeconds = trainSeconds; self.ownerPID = ownerPID; self.host = host
        self.batchJob = batchJob; self.axes = axes; self.stderrTail = stderrTail
    }

    /// The last non-empty line of `stderrTail`: usually what went wrong.
    public var lastStderrLine: String? {
        stderrTail?.split(whereSeparator: \.isNewline).last { !$0.allSatisfy(\.isWhitespace) }
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }
}

/// A run as the last plan that included it registered it, and the sweeps that include it.
public struct Registration: Sendable, Equatable {
    public var run: PlannedRun
    /// The sweeps (manifest names) that include this run.
    public var sweeps: [String]
}

/// Past run times of one run group, for `sweep plan`'s estimate and `sweep run`'s ETA.
public struct GroupTiming: Sendable, Equatable {
    /// How `Ledger.groupTimings` keys a group's runs at one profile (config key `profile`):
    /// the group's name without one, "grid --profile smoke" with one.
    public static func key(group: String, profile: String?) -> String {
        profile.map { "\(group) --profile \($0)" } ?? group
    }

    public var group: String
    public var runs: Int
    /// Training time (the engine's epoch times summed) of a run, on average.
    public var meanTrainSeconds: Double
    public var meanEpochSeconds: Double
    /// Wall time over training time (at least 1): start-up, data and evaluation come on top
    /// of the epochs. 1 when no run of the group ran whole in one local attempt.
    public var wallPerTrainingSecond: Double

    public init(group: String, runs: Int, meanTrainSeconds: Double, meanEpochSeconds: Double,
                wallPerTrainingSecond: Double = 1) {
        self.group = group; self.runs = runs; self.meanTrainSeconds = meanTrainSeconds; self.meanEpochSeconds = meanEpochSeconds
        self.wallPerTrainingSecond = wallPerTrainingSecond
    }

    /// The wall time a run should take judging by the past runs of its group: the mean
    /// seconds per epoch times its `epochs` when its config says (a smoke profile's 1 epoch
    /// is not a full run's 30), else the group's mean training time, times the group's
    /// wall-to-training ratio. nil when its group has no timed run at its profile: a smoke run's
    /// epoch says nothing about a full run's (other images, sizes, backbones). `sweep plan`'s
    /// estimate and `sweep run`'s ETA both come from here.
    public static func expectedSeconds(of run: PlannedRun, timings: [String: GroupTiming]) -> Double? {
        guard !timings.isEmpty else { return nil }
        let config = run.config
        guard let timing = timings[key(group: run.group, profile: config[ReservedConfigKey.profile]?.stringValue)] else { return nil }
        let training = config["epochs"]?.intValue.map { timing.meanEpochSeconds * Double($0) } ?? timing.meanTrainSeconds
        return training * timing.wallPerTrainingSecond
    }
}

public enum LedgerError: Error, Equatable, CustomStringConvertible {
    case unknownRun(String)
    case ambiguousPrefix(String, matches: [RunID])
    case corrupt(id: String, column: String, value: String)

    public var description: String {
        switch self {
        case .unknownRun(let text):
            return "no run in the ledger has an id starting with '\(text)'"
        case .ambiguousPrefix(let text, let matches):
            let shown = matches.prefix(5).map(\.rawValue).joined(separator: ", ")
            return "'\(text)' matches \(matches.count) runs (\(shown)\(matches.count > 5 ? ", ..." : "")); give more characters"
        case .corrupt(let id, let column, let value):
            return "ledger row \(id) has an unreadable \(column): '\(value.prefix(80))'"
        }
    }
}

extension Ledger {
    /// Which runs a status listing covers.
    public enum Selection: Sendable, Equatable {
        /// Every run in the ledger, by id.
        case all
        /// The runs of one sweep (manifest name), in plan order.
        case sweep(String)
        /// Runs no registered sweep includes any more (their manifest changed), by id.
        case unlisted
    }

    /// The entries of the selected runs.
    public func entries(_ selection: Selection = .all) throws -> [RunEntry] {
        let columns = RunEntry.columns
        let (sql, arguments): (String, StatementArguments) = switch selection {
        case .all:
            ("SELECT \(columns) FROM run r ORDER BY r.id", [])
        case .sweep(let sweep):
            ("SELECT \(columns) FROM sweep_run s JOIN run r ON r.id = s.run_id WHERE s.sweep = ? ORDER BY s.position",
             [sweep])
        case .unlisted:
            ("SELECT \(columns) FROM run r WHERE NOT EXISTS (SELECT 1 FROM sweep_run s WHERE s.run_id = r.id) ORDER BY r.id",
             [])
        }
        return try database.read { db in
            var entries: [RunEntry] = []
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() { entries.append(try RunEntry(row: row)) }
            return entries
        }
    }

    /// The entries of the given runs; runs the ledger has never seen are absent.
    public func entries(_ ids: [RunID]) throws -> [RunID: RunEntry] {
        try database.read { db in
            var found: [RunID: RunEntry] = [:]
            for chunk in ids.chunked(into: 500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT \(RunEntry.columns) FROM run r WHERE r.id IN (\(marks))
                    """, arguments: StatementArguments(chunk.map(\.rawValue)))
                while let row = try rows.next() {
                    let entry = try RunEntry(row: row)
                    found[entry.id] = entry
                }
            }
            return found
        }
    }

    /// The resolved configs of the given runs (for `sweep status --json`); unknown runs are absent.
    public func configs(_ ids: [RunID]) throws -> [RunID: JSONValue] {
        try database.read { db in
            var found: [RunID: JSONValue] = [:]
            for chunk in ids.chunked(into: 500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try Row.fetchCursor(db, sql: "SELECT id, config FROM run WHERE id IN (\(marks))",
                                               arguments: StatementArguments(chunk.map(\.rawValue)))
                while let row = try rows.next() {
                    let id: String = row[0], text: String = row[1]
                    guard let config = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                        throw LedgerError.corrupt(id: id, column: "config", value: text)
                    }
                    found[RunID(rawValue: id)] = config
                }
            }
            return found
        }
    }

    /// Count of runs per state, for the sweep `sweep` or the whole ledger.
    public func counts(sweep: String? = nil) throws -> [RunStatus: Int] {
        try database.read { db in
            let rows = if let sweep {
                try Row.fetchAll(db, sql: """
                    SELECT r.status, COUNT(*) FROM sweep_run s JOIN run r ON r.id = s.run_id
                    WHERE s.sweep = ? GROUP BY r.status
                    """, arguments: [sweep])
            } else {
                try Row.fetchAll(db, sql: "SELECT status, COUNT(*) FROM run GROUP BY status")
            }
            var counts: [RunStatus: Int] = [:]
            for row in rows {
                counts[try RunRecord.status(row[0], id: "(count)")] = row[1]
            }
            return counts
        }
    }

    /// The sweeps (manifest names) registered in this workspace, by name.
    public func sweeps() throws -> [String] {
        try database.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT sweep FROM sweep_run ORDER BY sweep")
        }
    }

    /// The run whose id is `text` or starts with it (`sweep show 3fa2`).
    public func resolve(prefix text: String) throws -> RunID {
        let matches = try database.read { db in
            // Ids are lowercase hex; GLOB uses the primary key index for a prefix range.
            let pattern = text.lowercased().filter(\.isHexDigit) + "*"
            return try String.fetchAll(db, sql: "SELECT id FROM run WHERE id GLOB ? ORDER BY id LIMIT 50",
                                       arguments: [pattern])
        }
        guard !text.isEmpty, text.allSatisfy(\.isHexDigit), let first = matches.first else {
            throw LedgerError.unknownRun(text)
        }
        guard matches.count == 1 else {
            throw LedgerError.ambiguousPrefix(text, matches: matches.map(RunID.init(rawValue:)))
        }
        return RunID(rawValue: first)
    }

    /// The configuration and place in the grid the ledger stored for `id`.
    public func registration(_ id: RunID) throws -> Registration? {
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT id, run_group, label, seed, config, needs, axes FROM run WHERE id = ?
                """, arguments: [id.rawValue]) else { return nil }
            let sweeps = try String.fetchAll(db, sql: "SELECT DISTINCT sweep FROM sweep_run WHERE run_id = ? ORDER BY sweep",
                                             arguments: [id.rawValue])
            let decode = { (column: String) throws -> JSONValue in
                let text: String = row[column]
                do { return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) } catch {
                    throw LedgerError.corrupt(id: id.rawValue, column: column, value: text)
                }
            }
            let needs = (try decode("needs").objectValue ?? [:]).compactMapValues { $0.stringValue.map(RunID.init(rawValue:)) }
            let run = PlannedRun(id: id, group: row["run_group"], label: row["label"], seed: row["seed"],
                                 config: try decode("config"), needs: needs, axes: try decode("axes").objectValue ?? [:])
            return Registration(run: run, sweeps: sweeps)
        }
    }

    /// Mean training time of the succeeded runs of each group at each profile (keyed by
    /// `GroupTiming.key`), from their metrics' `epoch_seconds`, and their wall time per training
    /// second. Groups with no succeeded run are absent.
    public func groupTimings() throws -> [String: GroupTiming] {
        try database.read { db in
            // Wall time counts only runs that ran whole in one local attempt: a resumed run's
            // last attempt did part of the epochs, and a Slurm run's start is its submission.
            let rows = try Row.fetchAll(db, sql: """
                SELECT run_group, json_extract(config, '$.\(ReservedConfigKey.profile)') AS profile, COUNT(*), AVG(train_seconds),
                    SUM(train_seconds) / SUM(epoch_count),
                    SUM(CASE WHEN attempts = 1 AND batch_job IS NULL THEN finished_at - started_at END)
                        / SUM(CASE WHEN attempts = 1 AND batch_job IS NULL THEN train_seconds END)
                FROM run WHERE status = 'succeeded' AND train_seconds IS NOT NULL AND epoch_count > 0
                GROUP BY run_group, profile
                """)
            var timings: [String: GroupTiming] = [:]
            for row in rows {
                let group: String = row[0]
                let profile: String? = row[1]
                let wallRatio: Double? = row[5]
                timings[GroupTiming.key(group: group, profile: profile)] = GroupTiming(
                    group: group, runs: row[2], meanTrainSeconds: row[3], meanEpochSeconds: row[4],
                    wallPerTrainingSecond: max(1, wallRatio ?? 1))
            }
            return timings
        }
    }
}

extension RunEntry {
    /// The columns `init(row:)` reads, by position, from table `run` aliased `r`.
    static let columns = """
        r.id, r.run_group, r.label, r.seed, r.status, r.attempts, r.exit_code, r.reason,
        r.started_at, r.finished_at, r.train_seconds, r.owner_pid, r.host, r.failures, r.batch_job,
        r.axes, r.stderr_tail, r.earlier_seconds
        """

    init(row: Row) throws {
        let id: String = row[0]
        let axesText: String = row[15]
        guard let axes = try? JSONDecoder().decode(JSONValue.self, from: Data(axesText.utf8)) else {
            throw LedgerError.corrupt(id: id, column: "axes", value: axesText)
        }
        self.init(id: RunID(rawValue: id), group: row[1], label: row[2], seed: row[3],
                  status: try RunRecord.status(row[4], id: id), attempts: row[5], failures: row[13], exitCode: row[6],
                  reason: row[7], startedAt: (row[8] as Double?).map(Date.init(timeIntervalSince1970:)),
                  finishedAt: (row[9] as Double?).map(Date.init(timeIntervalSince1970:)),
                  trainSeconds: row[10], ownerPID: row[11], host: row[12], batchJob: row[14],
                  axes: axes.objectValue ?? [:], stderrTail: row[16])
        earlierSeconds = row[17] ?? 0
    }
}

extension RunRecord {
    static let columns = """
        id, status, attempts, exit_code, stderr_tail, reason, metrics, started_at, finished_at, owner_pid, host,
        earlier_seconds
        """

    init(row: Row) throws {
        let id: String = row["id"]
        var metrics: RunMetrics?
        if let text: String = row["metrics"] {
            do { metrics = try JSONDecoder().decode(RunMetrics.self, from: Data(text.utf8)) } catch {
                throw LedgerError.corrupt(id: id, column: "metrics", value: text)
            }
        }
        self.init(id: RunID(rawValue: id), status: try Self.status(row["status"], id: id), attempts: row["attempts"],
                  exitCode: row["exit_code"], stderrTail: row["stderr_tail"], reason: row["reason"], metrics: metrics,
                  startedAt: (row["started_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                  finishedAt: (row["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                  ownerPID: row["owner_pid"], host: row["host"])
        earlierSeconds = row["earlier_seconds"] ?? 0
    }

    static func status(_ text: String, id: String) throws -> RunStatus {
        guard let status = RunStatus(rawValue: text) else {
            throw LedgerError.corrupt(id: id, column: "status", value: text)
        }
        return status
    }
}
