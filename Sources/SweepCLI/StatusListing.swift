import Foundation
import RunContract
import SweepCore
import SweepExecute
import SweepLedger

/// What `sweep status` prints: for each sweep, its state counts and one line per run.
struct StatusListing {
    struct Section {
        var title: String
        var runs: [RunEntry]
    }

    var workspace: Workspace
    var sections: [Section]
    /// When given, only runs in these states are listed (counts still cover every run).
    var only: Set<RunState> = []
    /// Elapsed times of running runs are measured up to this instant.
    var now = Date()
    /// Slurm's state of the array tasks of running runs ("PENDING", "RUNNING", ...).
    var slurmStates: [RunID: String] = [:]

    /// Every sweep registered in the workspace, and the runs no sweep lists any more.
    static func workspace(_ ledger: Ledger) throws -> StatusListing {
        var sections = try ledger.sweeps().map { Section(title: $0, runs: try ledger.entries(.sweep($0))) }
        let unlisted = try ledger.entries(.unlisted)
        if !unlisted.isEmpty { sections.append(Section(title: "(runs no manifest lists any more)", runs: unlisted)) }
        return StatusListing(workspace: ledger.workspace, sections: sections)
    }

    /// The runs of `plan`, in plan order, as the ledger (if any) knows them, with the plan's axes.
    static func plan(_ plan: Plan, ledger: Ledger?, workspace: Workspace) throws -> StatusListing {
        let known = try ledger?.entries(plan.runs.map(\.id)) ?? [:]
        let runs = plan.runs.map { run in
            var entry = known[run.id] ?? RunEntry(id: run.id, group: run.group, label: run.label, seed: run.seed)
            entry.axes = run.axes
            return entry
        }
        var listing = StatusListing(workspace: workspace, sections: [Section(title: plan.name, runs: runs)])
        listing.configs = Dictionary(plan.runs.map { ($0.id, $0.config) }, uniquingKeysWith: { first, _ in first })
        return listing
    }

    /// Resolved configs by run, for `--json` (read from the ledger when not given by a plan).
    var configs: [RunID: JSONValue] = [:]

    func text() -> String {
        let total = sections.reduce(0) { $0 + $1.runs.count }
        var out = "workspace \(workspace.root.path): \(total) run\(total == 1 ? "" : "s")\n"
        if sections.isEmpty { out += "nothing planned yet: `sweep run FILE` registers and runs a manifest\n" }
        for section in sections {
            out += "\n\(section.title): \(section.runs.count) runs: \(stateCounts(section.runs.map { RunState($0.status) }))\n"
            let listed = only.isEmpty ? section.runs : section.runs.filter { only.contains(RunState($0.status)) }
            guard !listed.isEmpty else { continue }
            var table = TextTable(["RUN", "STATE", "TRIES", "GROUP", "LABEL", "SEED", "TIME", "AXES", "NOTE"])
            for run in listed {
                let axes = run.axes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.description)" }
                table.append([run.id.rawValue, RunState(run.status).rawValue, String(run.attempts), run.group,
                              run.label ?? "-", String(run.seed), time(run), axes.isEmpty ? "-" : axes.joined(separator: " "),
                              note(run)])
            }
            table.render(into: &out)
        }
        return out
    }

    private func time(_ run: RunEntry) -> String {
        guard let started = run.startedAt else { return "-" }
        // Every attempt's time: a resumed run took its earlier attempts too.
        if run.status == .running { return ProgressText.duration(run.earlierSeconds + now.timeIntervalSince(started)) }
        guard let finished = run.finishedAt else { return "-" }
        return ProgressText.duration(run.earlierSeconds + finished.timeIntervalSince(started))
    }

    private func note(_ run: RunEntry) -> String {
        switch run.status {
        case .running where run.batchJob != nil:
            return "slurm \(run.batchJob ?? "") \(slurmStates[run.id] ?? "")".trimmingCharacters(in: .whitespaces)
        case .running:
            return "pid \(run.ownerPID.map(String.init) ?? "?") on \(run.host ?? "?")"
        case .failed:
            // The reason sweep recorded (a timeout), else what the engine said last.
            let exit = run.exitCode.map { "exit \($0)" }
            return [exit, run.reason ?? run.lastStderrLine].compactMap { $0 }.joined(separator: ": ")
        default:
            return run.reason ?? ""
        }
    }

    func json(ledger: Ledger? = nil) throws -> String {
        struct Run: Encodable {
            var id: String, group: String, label: String?, seed: Int, state: RunState, attempts: Int
            var exitCode: Int32?, reason: String?, startedAt: Date?, finishedAt: Date?, trainSeconds: Double?
            var ownerPID: Int32?, host: String?, slurmJob: String?, slurmState: String?
            var axes: [String: JSONValue], config: JSONValue?, stderrLast: String?
            enum CodingKeys: String, CodingKey {
                case id, group, label, seed, state, attempts, reason, host, axes, config
                case stderrLast = "stderr_last_line"
                case slurmJob = "slurm_job", slurmState = "slurm_state"
                case exitCode = "exit_code", startedAt = "started_at", finishedAt = "finished_at"
                case trainSeconds = "train_seconds", ownerPID = "owner_pid"
            }
        }
        struct Sweep: Encodable { var name: String; var counts: [String: Int]; var runs: [Run] }
        struct Document: Encodable { var workspace: String; var sweeps: [Sweep] }
        var configs = self.configs
        let listed = sections.flatMap(\.runs).filter { only.isEmpty || only.contains(RunState($0.status)) }
        let missing = listed.map(\.id).filter { configs[$0] == nil }
        if let ledger, !missing.isEmpty { configs.merge(try ledger.configs(missing)) { first, _ in first } }
        let document = Document(workspace: workspace.root.path, sweeps: sections.map { section in
            var counts: [String: Int] = [:]
            for run in section.runs { counts[RunState(run.status).rawValue, default: 0] += 1 }
            let runs = section.runs.filter { only.isEmpty || only.contains(RunState($0.status)) }.map {
                Run(id: $0.id.rawValue, group: $0.group, label: $0.label, seed: $0.seed, state: RunState($0.status),
                    attempts: $0.attempts, exitCode: $0.exitCode, reason: $0.reason, startedAt: $0.startedAt,
                    finishedAt: $0.finishedAt, trainSeconds: $0.trainSeconds, ownerPID: $0.ownerPID, host: $0.host,
                    slurmJob: $0.batchJob, slurmState: slurmStates[$0.id], axes: $0.axes, config: configs[$0.id],
                    stderrLast: $0.lastStderrLine)
            }
            return Sweep(name: section.title, counts: counts, runs: runs)
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
    }
}
