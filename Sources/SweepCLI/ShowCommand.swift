import ArgumentParser
import Foundation
import RunContract
import SweepCore
import SweepExecute
import SweepLedger
import SweepReport

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one run: its configuration, state, metrics and the end of its logs.",
        discussion: """
            RUN is a run id or any unique prefix of one (as `sweep status` lists them).

            Examples:
              sweep show 3fa2c1d0e8b7a6c5
              sweep show 3fa2                     # a prefix is enough when it is unique
              sweep show 3fa2 --lines 100         # more of stdout.log and stderr.log
              sweep show 3fa2 --json | jq .metrics
              sweep show 3fa2 --svg curves.svg    # its training curves as a figure
            """
    )

    @Argument(help: ArgumentHelp("A run id or a unique prefix of one.", valueName: "run"))
    var run: String

    @OptionGroup var workspace: WorkspaceOption

    @Option(help: "Lines of each log file to show.")
    var lines = 20

    @Flag(help: "Print the run as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Also write the run's training curves (loss, ranks, task metrics per epoch) "
                               + "as an SVG figure to this file.", valueName: "file"))
    var svg: String?

    func run() async throws {
        guard let ledger = try Ledger.existing(workspace: workspace.value) else {
            throw ValidationError("no ledger at \(workspace.value.ledger.path): nothing has run in this workspace")
        }
        let id: RunID
        do { id = try ledger.resolve(prefix: run) } catch let error as LedgerError {
            throw ValidationError(error.description)
        }
        let details = try RunDetails(id: id, ledger: ledger, logLines: lines)
        print(json ? try details.json() : details.text(), terminator: "")
        if let svg {
            guard let figure = details.curvesFigure() else {
                throw ValidationError("run \(id) has no finished epoch in its \(RunFiles.progress): no curves to draw")
            }
            try Data(figure.utf8).write(to: URL(fileURLWithPath: svg), options: .atomic)
            if !json { print("wrote \(svg)") }
        }
    }
}

/// Everything `sweep show` knows about one run, from the ledger and the run directory.
struct RunDetails {
    var registration: Registration
    var record: RunRecord
    var directory: URL
    var dependencies: [(name: String, id: RunID, state: RunState)]
    var progress: ProgressEvent?
    /// Loss, ranks and task metrics per epoch, from `progress.jsonl`.
    var curves: RunCurves
    var stdoutTail: [String]
    var stderrTail: [String]

    init(id: RunID, ledger: Ledger, logLines: Int) throws {
        guard let registration = try ledger.registration(id), let record = try ledger.record(id) else {
            throw LedgerError.unknownRun(id.rawValue)
        }
        self.registration = registration
        self.record = record
        directory = ledger.workspace.runDirectory(id)
        let needed = try ledger.records(Array(registration.run.needs.values))
        dependencies = registration.run.needs.sorted { $0.key < $1.key }.map { name, dependency in
            (name, dependency, RunState(needed[dependency]?.status))
        }
        let events = ContractJSON.readProgress(at: directory.appendingPathComponent(RunFiles.progress))
        progress = events.last
        curves = RunCurves(events: events)
        stdoutTail = lastLines(of: directory.appendingPathComponent(RunFiles.stdout), count: logLines)
        stderrTail = lastLines(of: directory.appendingPathComponent(RunFiles.stderr), count: logLines)
    }

    func text() -> String {
        let run = registration.run
        var out = "run \(run.id)  \(run.group)"
        if let label = run.label { out += " / \(label)" }
        out += "  seed \(run.seed)\n"
        var facts = TextTable()
        facts.append(["sweeps", registration.sweeps.isEmpty ? "-" : registration.sweeps.joined(separator: ", ")])
        var state = RunState(record.status).rawValue
        if record.attempts > 0 { state += " (attempt \(record.attempts))" }
        if let code = record.exitCode { state += ", exit code \(code)" }
        facts.append(["state", state])
        if let reason = record.reason { facts.append(["reason", reason]) }
        if let started = record.startedAt {
            var when = "started \(timestamp(started))"
            if let finished = record.finishedAt, finished >= started {
                let last = finished.timeIntervalSince(started)
                when += ", finished \(timestamp(finished)) after \(ProgressText.duration(record.earlierSeconds + last))"
                // A resumed run: its time is every attempt's, the last one's said apart.
                if record.earlierSeconds > 0 { when += " over \(record.attempts) attempts (\(ProgressText.duration(last)) in the last)" }
            } else if record.earlierSeconds > 0 {
                when += " (attempt \(record.attempts); \(ProgressText.duration(record.earlierSeconds)) in earlier attempts)"
            }
            facts.append(["time", when])
        }
        if let pid = record.ownerPID { facts.append(["owner", "pid \(pid) on \(record.host ?? "?")"]) }
        facts.append(["directory", directory.path])
        for dependency in dependencies {
            facts.append(["needs", "\(dependency.name) -> \(dependency.id) (\(dependency.state.rawValue))"])
        }
        if let progress, record.status != .succeeded {
            // `epoch` counts completed epochs; the one in progress is shown from 1, as the live display does.
            let current = min(progress.epoch + 1, max(progress.epochs, 1))
            facts.append(["progress", "epoch \(current)/\(progress.epochs) (\(progress.epoch) done), step \(progress.step)/\(progress.steps), "
                + "loss \(String(format: "%.4g", progress.loss)), \(ProgressText.duration(progress.elapsed)) into attempt \(record.attempts)"])
        }
        facts.render(into: &out)
        if !curves.isEmpty { out += "\ncurves (per epoch):\n" + indented(curvesText()) }
        out += "\nconfig:\n" + indented(prettyJSON(run.config))
        if let metrics = record.metrics { out += "\nmetrics:\n" + indented(metricsText(metrics)) }
        if let tail = record.stderrTail, !tail.isEmpty { out += "\nstderr (as recorded in the ledger):\n" + indented(tail) }
        for (name, tail) in [(RunFiles.stdout, stdoutTail), (RunFiles.stderr, stderrTail)] where !tail.isEmpty {
            out += "\n\(name) (last \(tail.count) lines):\n" + indented(tail.joined(separator: "\n"))
        }
        return out
    }

    /// One sparkline per curve, with its first and last values: "loss  █▅▄▃▂▂▁▁  epochs 1-8  0.873 -> 0.512".
    private func curvesText() -> String {
        var lines = [("loss", curves.series { $0.loss })]
        lines += curves.tasks.map { task in (task, curves.series { $0.metrics[task] }) }
        if curves.hasRanks { lines.append(("average rank", curves.series { $0.meanRank })) }
        var table = TextTable()
        for (name, series) in lines where !series.isEmpty {
            let epochs = series.count == 1 ? "epoch \(series[0].epoch)" : "epochs \(series[0].epoch)-\(series.last!.epoch)"
            table.append([name, Sparkline.text(series.map(\.value)), epochs,
                          String(format: "%.4g -> %.4g", series[0].value, series.last!.value)])
        }
        var out = ""
        table.render(into: &out)
        return out
    }

    /// The curves as an SVG figure, one panel per curve; nil when no epoch has ended.
    func curvesFigure() -> String? {
        let run = registration.run
        let legend = run.label ?? run.group
        let state = RunState(record.status).rawValue
        return CurveCharts.stacked(CurveCharts.Run(id: run.id.rawValue, legend: legend,
                                                   tooltip: "\(run.id) · \(legend) · seed \(run.seed) · \(state)",
                                                   curves: curves),
                                   title: "Training curves of run \(run.id)")?.svg
    }

    private func metricsText(_ metrics: RunMetrics) -> String {
        var out = ""
        var tasks = TextTable(["TASK", "METRIC", "VALUE"])
        for (task, metric) in metrics.tasks.sorted(by: { $0.key < $1.key }) {
            tasks.append([task, "\(metric.name) \(metric.direction.arrow)", String(format: "%.4g", metric.value)])
        }
        if !metrics.tasks.isEmpty { tasks.render(into: &out) }
        let p = metrics.parameters
        let millions = { (count: Int) in String(format: "%.3f M", Double(count) / 1e6) }
        out += "parameters: \(millions(p.trainable)) trainable of \(millions(p.total)) "
            + "(decoder \(millions(p.decoder)), backbone \(millions(p.backbone)))\n"
        out += "forward: \(String(format: "%.3g", metrics.gmacs)) GMACs\n"
        let epochs = metrics.epochSeconds
        out += "epochs: \(epochs.count), \(ProgressText.duration(epochs.reduce(0, +))) in all"
        if !epochs.isEmpty { out += ", \(ProgressText.duration(epochs.reduce(0, +) / Double(epochs.count))) each on average" }
        out += "\n"
        if let ranks = metrics.ranks, !ranks.isEmpty {
            let final = ranks.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.last.map(String.init) ?? "-")" }
            out += "final ranks: \(final.joined(separator: ", "))\n"
        }
        for (name, value) in metrics.extra.sorted(by: { $0.key < $1.key }) {
            out += "\(name): \(String(format: "%.6g", value))\n"
        }
        for (name, path) in metrics.artifacts.sorted(by: { $0.key < $1.key }) {
            out += "artifact \(name): \(directory.appendingPathComponent(path).path)\n"
        }
        out += "engine: \(metrics.engineVersion)\n"
        if let numerics = metrics.numerics { out += "numerics: \(numerics.summary)\n" }
        return out
    }

    func json() throws -> String {
        struct Dependency: Encodable { var name: String; var id: String; var state: RunState }
        struct Document: Encodable {
            var id: String, group: String, label: String?, seed: Int, sweeps: [String]
            var state: RunState, attempts: Int, exit_code: Int32?, reason: String?
            var started_at: Date?, finished_at: Date?, owner_pid: Int32?, host: String?
            var directory: String, needs: [Dependency], config: JSONValue, metrics: RunMetrics?
            var stderr_tail: String?, progress: ProgressEvent?
        }
        let run = registration.run
        let document = Document(
            id: run.id.rawValue, group: run.group, label: run.label, seed: run.seed, sweeps: registration.sweeps, state: RunState(record.status), attempts: record.attempts,
            exit_code: record.exitCode, reason: record.reason, started_at: record.startedAt, finished_at: record.finishedAt,
            owner_pid: record.ownerPID, host: record.host, directory: directory.path,
            needs: dependencies.map { Dependency(name: $0.name, id: $0.id.rawValue, state: $0.state) },
            config: run.config, metrics: record.metrics, stderr_tail: record.stderrTail, progress: progress)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
    }
}

func prettyJSON(_ value: JSONValue) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? value.canonical
}

private func indented(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n")
        .trimmingCharacters(in: .newlines) + "\n"
}

private func timestamp(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone.current
    formatter.dateFormat = "yyyy-MM-dd HH:mm:ss zzz"
    return formatter.string(from: date)
}

/// The last `count` lines of a text file, reading at most its last 64 KiB (logs can be large).
func lastLines(of url: URL, count: Int) -> [String] {
    guard count > 0, let handle = try? FileHandle(forReadingFrom: url) else { return [] }
    defer { try? handle.close() }
    let size = (try? handle.seekToEnd()) ?? 0
    let window: UInt64 = 64 * 1024
    try? handle.seek(toOffset: size > window ? size - window : 0)
    guard let data = try? handle.readToEnd() else { return [] }
    var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    if lines.last?.isEmpty == true { lines.removeLast() }
    // A window that starts mid-file starts mid-line: drop that partial line.
    if size > window, !lines.isEmpty { lines.removeFirst() }
    return lines.suffix(count).map(String.init)
}
