import Foundation
import RunContract
import Subprocess
import SweepCore
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs one attempt as a subprocess of the engine, inside the run's directory, following the
/// run contract (docs/run-contract.md). The engine is started through the `Attendant`, which
/// records how it ended in the run directory.
struct SubprocessLauncher: RunLauncher {
    let workspace: Workspace
    /// By engine name (`PlannedRun.engine`; nil: the manifest's `engine`).
    let commands: [String?: EngineCommand]
    let timeout: Duration?
    let grace: Duration
    /// Lines of stderr.log kept in the ledger when a run fails.
    static let stderrTailLines = 40

    func launch(_ attempt: RunAttempt, stop: StopSignal) async -> AttemptOutcome {
        let directory = workspace.runDirectory(attempt.run.id)
        guard let command = commands[attempt.run.engine] else {
            return .failed(exitCode: nil, stderrTail: nil, reason: "no engine '\(attempt.run.engine ?? "engine")' was resolved for this run")
        }
        let logs: RunLogs
        let stray: pid_t?
        let config = resolvedConfig(attempt.run)
        do {
            stray = try await prepare(directory, for: attempt, config: config)
            logs = try RunLogs(directory: directory)
        } catch {
            return .failed(exitCode: nil, stderrTail: nil, reason: "could not prepare \(directory.path): \(error)")
        }
        if let stray { logs.writeHeader("stopped engine process group \(stray), left running here by a sweep that ended") }
        let arguments = command.arguments(config: directory.appendingPathComponent(RunFiles.config), out: directory)
        logs.writeHeader("attempt \(attempt.overall), \(attempt.threads) thread\(attempt.threads == 1 ? "" : "s"): "
                         + ([command.executable] + arguments).joined(separator: " "))

        var platform = PlatformOptions()
        // Its own process group: the terminal's Ctrl-C reaches only `sweep`, and stopping a run
        // reaches everything the engine started (a shell script's children included).
        platform.processGroupID = 0
        platform.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: grace)]
        let threads = String(attempt.threads)
        var environment: [Environment.Key: String?] = [
            Environment.Key(stringLiteral: RunEnvironment.threads): threads,
            Environment.Key(stringLiteral: RunEnvironment.openBLASThreads): threads,
            // For engines on OpenMP (a user's PyTorch script).
            "OMP_NUM_THREADS": threads,
        ]
        for (name, value) in command.environment { environment[Environment.Key(stringLiteral: name)] = value }
        let token = Attendant.token(run: attempt.run.id, attempt: attempt.overall, engine: command.identity, config: config)
        let configuration = Configuration(
            executable: .path(FilePath(Attendant.shell)),
            arguments: Arguments(Attendant.arguments(token: token, engine: command.executable, arguments)),
            environment: .inherit.updating(environment),
            workingDirectory: FilePath(directory.path),
            platformOptions: platform)

        let ending = await race(configuration, logs: logs, directory: directory, stop: stop)
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(EngineProcessFile.name))
        return outcome(of: ending, logs: logs, directory: directory, stop: stop)
    }

    func finishedAttempt(of run: PlannedRun, attempt: Int) -> FinishedAttempt? {
        guard let command = commands[run.engine] else { return nil }
        let token = Attendant.token(run: run.id, attempt: attempt, engine: command.identity, config: resolvedConfig(run))
        return Attendant.finishedAttempt(in: workspace.runDirectory(run.id), token: token)
    }

    // MARK: preparing

    /// The run's config.json: its canonical config with `run://` references as paths.
    private func resolvedConfig(_ run: PlannedRun) -> Data {
        Data(run.config.resolvingRunReferences(in: workspace).canonical.utf8)
    }

    /// Returns the pid of a stray engine it had to stop first.
    private func prepare(_ directory: URL, for attempt: RunAttempt, config: Data) async throws -> pid_t? {
        let files = FileManager.default
        // An engine left running by a `sweep` that was killed would write into the same directory.
        let stray = await EngineProcessFile.stopStray(in: directory, grace: grace)
        if attempt.startFresh { try? files.removeItem(at: directory) }
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        // This attempt must write its own; stale ones from an earlier attempt would pass for its
        // success. The exit status goes first: it is what vouches for a metrics.json.
        try? files.removeItem(at: directory.appendingPathComponent(ExitStatusFile.name))
        try? files.removeItem(at: directory.appendingPathComponent(RunFiles.metrics))
        try ContractJSON.writeAtomically(config, to: directory.appendingPathComponent(RunFiles.config))
        return stray
    }

    // MARK: running

    private enum Ending: Sendable {
        case exited(TerminationStatus)
        case couldNotStart(String)

        var exitCode: Int32? {
            if case .exited(.exited(let code)) = self { return code }
            return nil
        }
    }

    private enum Cause: Sendable { case stop, timeout }

    private enum Racer: Sendable {
        case process(Ending)
        case stopRequested
        case other
    }

    /// The engine's pid (also its process group), once spawned, and whether its time ran out.
    private final class StartedEngine: Sendable {
        let pid = Mutex<pid_t?>(nil)
        let timedOut = Mutex(false)
    }

    private struct Finish: Sendable {
        var ending: Ending
        var cause: Cause?
    }

    /// Runs the engine until it exits, or a stop or the timeout ends it: cancelling the
    /// subprocess task runs the teardown sequence (SIGTERM to the group, SIGKILL after `grace`).
    /// The subprocess runs in a task of its own so that cancelling it leaves the watcher of a
    /// second, urgent stop in place during the grace period.
    private func race(_ configuration: Configuration, logs: RunLogs, directory: URL, stop: StopSignal) async -> Finish {
        let engine = StartedEngine()
        let process = Task<Ending, Never> {
            do {
                let result = try await Subprocess.run(
                    configuration, input: .none,
                    output: .fileDescriptor(logs.stdout, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(logs.stderr, closeAfterSpawningProcess: true)
                ) { execution in
                    let pid = execution.processIdentifier.value
                    engine.pid.withLock { $0 = pid }
                    EngineProcessFile.write(pid: pid, in: directory)
                }
                return .exited(result.terminationStatus)
            } catch {
                return .couldNotStart("could not start \(configuration.executable): \(error)")
            }
        }
        // The timeout runs on a Dispatch queue, not on the cooperative pool: long synchronous work
        // may hold the pool's threads for as long as the engine runs, and the SIGTERM must not wait
        // for them. Cancelling the task starts the teardown (SIGKILL after the grace period).
        let timer = timeout.map { timeout in
            let expire = DispatchWorkItem {
                engine.timedOut.withLock { $0 = true }
                if let pid = engine.pid.withLock({ $0 }) { kill(-pid, SIGTERM) }
                process.cancel()
            }
            let (seconds, attoseconds) = timeout.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: expire)
            return expire
        }
        defer { timer?.cancel() }
        return await withTaskCancellationHandler {
            await withTaskGroup(of: Racer.self) { group in
                group.addTask { .process(await process.value) }
                group.addTask {
                    await stop.stopping.wait()
                    return Task.isCancelled ? .other : .stopRequested
                }
                group.addTask {
                    // A second Ctrl-C: no more grace.
                    await stop.urgent.wait()
                    if !Task.isCancelled, let pid = engine.pid.withLock({ $0 }) { kill(-pid, SIGKILL) }
                    return .other
                }
                var cause: Cause?
                while let racer = await group.next() {
                    switch racer {
                    case .process(let ending):
                        group.cancelAll()
                        let timedOut = engine.timedOut.withLock { $0 }
                        return Finish(ending: ending, cause: cause ?? (timedOut ? .timeout : nil))
                    case .stopRequested where cause == nil && !engine.timedOut.withLock({ $0 }):
                        cause = .stop
                        process.cancel()
                    default:
                        break
                    }
                }
                preconditionFailure("the engine task always reports")
            }
        } onCancel: {
            process.cancel()
        }
    }

    // MARK: judging

    private func outcome(of finish: Finish, logs: RunLogs, directory: URL, stop: StopSignal) -> AttemptOutcome {
        // An engine that finished its work as the stop arrived keeps its success.
        if case .exited(.exited(0)) = finish.ending, case .success(let metrics) = Self.readMetrics(in: directory) {
            return .succeeded(metrics)
        }
        switch finish.cause {
        case .stop?:
            return .interrupted(reason: stop.reason.map { "\($0)" } ?? "stopped")
        case .timeout?:
            return .failed(exitCode: finish.ending.exitCode, stderrTail: logs.stderrTail(lines: Self.stderrTailLines),
                           reason: "timeout after \(Self.text(timeout ?? .zero)) (terminated)")
        case nil:
            break
        }
        let tail = logs.stderrTail(lines: Self.stderrTailLines)
        switch finish.ending {
        case .couldNotStart(let why):
            return .failed(exitCode: nil, stderrTail: tail, reason: why)
        case .exited(.exited(0)):
            guard case .failure(let problem) = Self.readMetrics(in: directory) else { preconditionFailure() }
            return .failed(exitCode: 0, stderrTail: tail, reason: problem.description)
        case .exited(.exited(let code)):
            return .failed(exitCode: code, stderrTail: tail, reason: nil)
        case .exited(.signaled(let signal)):
            return .failed(exitCode: nil, stderrTail: tail, reason: "killed by \(signalName(signal))")
        }
    }

    /// The run's metrics.json, or why it does not count as a result.
    static func readMetrics(in directory: URL) -> Result<RunMetrics, MetricsProblem> {
        let url = directory.appendingPathComponent(RunFiles.metrics)
        guard let data = try? Data(contentsOf: url) else { return .failure(.missing) }
        do {
            return .success(try JSONDecoder().decode(RunMetrics.self, from: data))
        } catch let error as DecodingError {
            return .failure(.invalid(MetricsProblem.explain(error)))
        } catch {
            return .failure(.invalid("\(error)"))
        }
    }

    static func text(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }
}

/// Why an engine that exited 0 still failed.
enum MetricsProblem: Error, Equatable, CustomStringConvertible {
    case missing
    case invalid(String)

    var description: String {
        switch self {
        case .missing: return "the engine exited 0 without writing \(RunFiles.metrics)"
        case .invalid(let why): return "\(RunFiles.metrics) is not valid: \(why)"
        }
    }

    static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the top level" : "`" + keys.joined(separator: ".") + "`"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "missing key `\(key.stringValue)`\(parent)"
        case .typeMismatch(let type, let context):
            return "\(path(context)) should be \(describe(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context)) is null, expected \(describe(type))"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON (\(context.debugDescription))"
                : "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Int.Type: return "a number"
        case is String.Type: return "a string"
        case is [Double].Type, is [Int].Type: return "an array of numbers"
        default: return "\(type)".hasPrefix("Dictionary") ? "an object" : "\(type)"
        }
    }
}
