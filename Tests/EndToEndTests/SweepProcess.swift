import Foundation
import Testing

/// The built `sweep` binary, run as a user runs it: a child process with its own working
/// directory, its output captured in files (pipes could fill up and block it).
struct SweepProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Both streams, for failure messages.
        var output: String { "exit status \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
    }

    /// `sweep` beside the test bundle (`swift build` puts every product of a configuration in one
    /// folder); `SWEEP_BINARY` overrides it.
    static let binary: URL? = {
        if let path = ProcessInfo.processInfo.environment["SWEEP_BINARY"] { return URL(fileURLWithPath: path) }
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        return candidates.map { $0.appendingPathComponent("sweep") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    static func requireBinary() throws -> URL {
        try #require(binary, "the `sweep` binary was not found beside the tests: run `swift build` first or set SWEEP_BINARY")
    }

    let process: ChildProcess
    private let arguments: [String]
    private let stdoutFile: URL
    private let stderrFile: URL

    /// Starts `sweep arguments...` in `directory`, with `environment` added to this process's.
    init(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws {
        let name = UUID().uuidString
        stdoutFile = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(name).out")
        stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(name).err")
        self.arguments = arguments
        process = try ChildProcess(try Self.requireBinary().path, arguments, in: directory,
                                   environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                                   stdout: stdoutFile, stderr: stderrFile)
    }

    var pid: Int32 { process.pid }

    /// Waits for the process to end (SIGKILL after `limit`, so a hung sweep fails the test
    /// instead of hanging it) and returns what it printed.
    func finish(limit: Duration = .seconds(30)) async throws -> Result {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while process.isRunning {
            if clock.now > deadline {
                kill(process.pid, SIGKILL)
                Issue.record("sweep \(arguments) did not end within \(limit); killed")
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let status = await process.wait()
        defer {
            try? FileManager.default.removeItem(at: stdoutFile)
            try? FileManager.default.removeItem(at: stderrFile)
        }
        return Result(status: status,
                      stdout: (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "")
    }

    /// Runs `sweep arguments...` in `directory` to its end.
    static func run(_ arguments: [String], in directory: URL, environment: [String: String] = [:],
                    limit: Duration = .seconds(30)) async throws -> Result {
        try await SweepProcess(arguments, in: directory, environment: environment).finish(limit: limit)
    }
}

/// A scratch project folder for one test: the engine stand-in, a manifest, a workspace, and
/// the log every engine run appends to. Removed when the test ends.
final class Scratch {
    let root: URL
    /// The fixture engine's shared log: "start ID", "epoch-N ID", "done ID", "failed ID", ...
    var log: URL { root.appendingPathComponent("executions.log") }
    var engine: URL { root.appendingPathComponent("engine.sh") }
    var workspace: URL { root.appendingPathComponent(".sweep") }
    /// What every `sweep` started here gets in its environment.
    var environment: [String: String] { ["ENGINE_FIXTURE_LOG": log.path].merging(extraEnvironment) { $1 } }
    /// Added by a test, e.g. the test cluster's SLURM_CONF.
    var extraEnvironment: [String: String] = [:]

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent("engine.sh")
        try FileManager.default.copyItem(at: fixture, to: engine)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func write(_ name: String, _ text: String) throws -> URL {
        let url = root.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// `sweep arguments...` run to its end in this folder, the engines logging to `log`.
    func sweep(_ arguments: [String], limit: Duration = .seconds(30)) async throws -> SweepProcess.Result {
        try await SweepProcess.run(arguments, in: root, environment: environment, limit: limit)
    }

    /// Starts `sweep arguments...` in this folder without waiting for it.
    func start(_ arguments: [String]) throws -> SweepProcess {
        try SweepProcess(arguments, in: root, environment: environment)
    }

    /// The workspace's runs as `sweep status --json` reports them, by run id.
    func status() async throws -> [String: StatusRun] {
        let result = try await sweep(["status", "--json"])
        try #require(result.status == 0, "sweep status failed: \(result.output)")
        let document = try JSONDecoder().decode(StatusDocument.self, from: Data(result.stdout.utf8))
        return Dictionary(document.sweeps.flatMap(\.runs).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Kills `sweep` with SIGKILL, as a crash would, once the ledger holds `succeeded` finished
    /// runs (or `limit` has passed), and returns its result. Records an issue if it had already ended.
    func killWhenSucceeded(_ sweep: SweepProcess, _ succeeded: Int, within limit: Duration,
                           polling interval: Duration = .milliseconds(50)) async throws -> SweepProcess.Result {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while clock.now < deadline, sweep.process.isRunning {
            if try await status().values.filter({ $0.state == "succeeded" }).count >= succeeded { break }
            try await Task.sleep(for: interval)
        }
        #expect(sweep.process.isRunning, "sweep ended before it could be killed")
        kill(sweep.pid, SIGKILL)
        return try await sweep.finish()
    }

    /// The log's lines as (event, run directory name) pairs.
    func executions() -> [(event: String, run: String)] {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
    }

    /// How many times each run logged `event`.
    func count(_ event: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for execution in executions() where execution.event == event { counts[execution.run, default: 0] += 1 }
        return counts
    }
}

/// The parts of `sweep status --json` the tests read.
struct StatusDocument: Decodable {
    struct Sweep: Decodable {
        var name: String
        var counts: [String: Int]
        var runs: [StatusRun]
    }
    var sweeps: [Sweep]
}

struct StatusRun: Decodable {
    var id: String
    var group: String
    var label: String?
    var seed: Int
    var state: String
    var attempts: Int
    var exit_code: Int32?
    var reason: String?
    var slurm_job: String?
    var slurm_state: String?
}
