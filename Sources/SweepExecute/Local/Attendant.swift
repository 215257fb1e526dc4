import Foundation
import RunContract
import SweepCore

/// The local executor starts every engine through a few lines of bash, the attendant: it runs the
/// engine in the foreground and waits for it even when signalled (a stop's SIGTERM reaches the
/// engine through their process group), writes how it ended to `exit-status` with the identity
/// of the attempt, and then ends the same way (the same exit code, or the same signal). A `sweep`
/// killed with SIGKILL cannot learn how its engines ended; the attendant can, so the next
/// `sweep run` adopts a run whose engine finished on its own (`finishedAttempt`) rather than
/// running it again.
enum Attendant {
    static let shell = "/bin/bash"
    /// `$0` of the script: what `ps` shows.
    static let name = "sweep-attendant"

    /// `bash -c SCRIPT sweep-attendant TOKEN ENGINE ARGS...`; the working directory is the run's.
    /// bash, not sh: dash prints "Segmentation fault" into the redirected stderr of a crashed engine.
    static let script = #"""
        token=$1; shift
        trap : TERM INT HUP
        exec 3>&2 2>/dev/null
        "$@" 2>&3 3>&-
        status=$?
        printf '%s\nexit_code=%s\n' "$token" "$status" > .exit-status.tmp && mv -f .exit-status.tmp exit-status
        if (( status > 128 && status <= 192 )); then
            trap - TERM INT HUP
            ulimit -c 0
            kill -$((status - 128)) $$
        fi
        exit "$status"
        """#
    // Line by line: the trap keeps bash alive through a stop's SIGTERM (a trap runs only once the
    // foreground command has ended, and the engine starts with the default handlers); the engine's
    // stderr is the log, bash's own stays out of it; the file is written atomically; an engine
    // killed by signal N (status 128+N) makes the attendant end by N too, without a core file.

    /// What `exit-status` says about the attempt besides its exit code.
    static let tokenKeys: Set<String> = ["run", "attempt", "engine", "config_sha256"]

    /// The attempt's identity: the run, the ledger's count of its attempts, the engine identity
    /// and the digest of the config.json written for it.
    static func token(run: RunID, attempt: Int, engine: String, config: Data) -> [String: String] {
        ["run": run.rawValue, "attempt": String(attempt),
         "engine": engine.replacingOccurrences(of: "\n", with: " "), "config_sha256": SHA256Hex.of(config)]
    }

    static func arguments(token: [String: String], engine: String, _ arguments: [String]) -> [String] {
        let lines = token.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        return ["-c", script, name, lines, engine] + arguments
    }

    /// The result the attempt `token` names left in `directory`, when it may stand as the run's
    /// success: `exit-status` names this very attempt (run, attempt count, engine identity and
    /// config digest) with exit code 0, and `metrics.json` is valid and not newer than it. A
    /// metrics.json from another attempt or config, half-written by an engine that died, or with
    /// the engine still running (no exit-status yet) is never adopted.
    static func finishedAttempt(in directory: URL, token: [String: String]) -> FinishedAttempt? {
        let statusURL = directory.appendingPathComponent(ExitStatusFile.name)
        guard let status = ExitStatusFile.read(in: directory), status.exitCode == 0, status.attempt == token,
              case .success(let metrics) = SubprocessLauncher.readMetrics(in: directory),
              let ended = modified(statusURL),
              let written = modified(directory.appendingPathComponent(RunFiles.metrics)), written <= ended
        else { return nil }
        return FinishedAttempt(metrics: metrics, endedAt: ended)
    }

    private static func modified(_ url: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
    }
}
