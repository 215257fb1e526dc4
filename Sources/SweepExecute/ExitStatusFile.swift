import Foundation
import RunContract
import SweepCore

/// `RUN_DIR/exit-status`, written when the engine has ended, by the Slurm array task
/// (`ArrayTask.script`) or by the local executor's attendant (`Attendant.script`): `key=value` lines.
///
///     exit_code=3          the engine's exit status (128+N: killed by signal N)
///     terminated=1         the task was told to stop (time limit, preemption, scancel)
///     skipped=RUN_ID       the engine did not start: that dependency had not succeeded
///     not_started=1        the task was stopped before this run's turn (with terminated=1)
///     job=1234_7           the array task that wrote it
///     run=…  attempt=…  engine=…  config_sha256=…
///                          the attempt the local attendant ran (`Attendant.token`)
struct ExitStatusFile: Equatable {
    static let name = RunFiles.exitStatus

    var exitCode: Int32?
    var terminated = false
    var skippedFor: RunID?
    var notStarted = false
    var job: String?
    /// The attempt's identity as the attendant recorded it, by key (`Attendant.tokenKeys`).
    var attempt: [String: String] = [:]

    init(exitCode: Int32? = nil, terminated: Bool = false, skippedFor: RunID? = nil, notStarted: Bool = false,
         job: String? = nil, attempt: [String: String] = [:]) {
        self.exitCode = exitCode; self.terminated = terminated; self.skippedFor = skippedFor; self.notStarted = notStarted
        self.job = job; self.attempt = attempt
    }

    init?(text: String) {
        var any = false
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            let value = String(line[line.index(after: equals)...])
            switch key {
            case "exit_code": exitCode = Int32(value); any = true
            case "terminated": terminated = value == "1"
            case "skipped": skippedFor = RunID(rawValue: value); any = true
            case "not_started": notStarted = value == "1"; any = any || notStarted
            case "job": job = value
            case _ where Attendant.tokenKeys.contains(key): attempt[key] = value
            default: break
            }
        }
        guard any else { return nil }
    }

    static func read(in directory: URL) -> ExitStatusFile? {
        (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)).flatMap(Self.init(text:))
    }
}
