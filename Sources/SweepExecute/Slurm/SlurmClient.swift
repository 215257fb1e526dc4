import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Slurm's command-line tools (sbatch, squeue, sacct, scancel), run as subprocesses with
/// argument vectors: paths and options are never pasted into a shell line. The tools are found
/// on PATH; `SLURM_CONF` and the rest of the environment pass through.
public struct SlurmClient: Sendable {
    /// Where the tools are; nil finds them on PATH. Tests point it at stand-ins.
    let tools: URL?

    public init(tools: URL? = nil) { self.tools = tools }

    /// Submits a batch script; returns the job id sbatch printed (`--parsable`).
    func submit(_ arguments: [String]) async throws -> String {
        let output = try await run("sbatch", ["--parsable"] + arguments)
        // --parsable prints "jobid" or "jobid;cluster".
        guard let id = output.split(separator: "\n").last?.split(separator: ";").first.map(String.init),
              id.allSatisfy(\.isNumber), !id.isEmpty
        else { throw SlurmError.unexpectedOutput(tool: "sbatch", output: output) }
        return id
    }

    /// The state of every task of `jobs` (array job ids) the controller still remembers, finished
    /// ones included, by task ("1234_7"). Jobs it has forgotten are absent.
    func queue(jobs: [String]) async throws -> [String: SlurmJobState] {
        guard !jobs.isEmpty else { return [:] }
        do {
            let output = try await run("squeue", ["--noheader", "--array", "--states=all",
                                                  "--jobs=" + jobs.joined(separator: ","), "--format=%i|%T"])
            return Self.parseStates(output)
        } catch SlurmError.failed(_, _, let message) where message.contains("Invalid job id") {
            // squeue refuses a list whose every job has left the controller's memory.
            return [:]
        }
    }

    /// Task states from accounting, or nil when sacct is not available (no accounting storage).
    func accounting(jobs: [String]) async -> [String: SlurmJobState]? {
        guard !jobs.isEmpty else { return [:] }
        guard let output = try? await run("sacct", ["--noheader", "--parsable2", "--allocations",
                                                     "--jobs=" + jobs.joined(separator: ","), "--format=JobID,State"])
        else { return nil }
        return Self.parseStates(output)
    }

    /// Cancels jobs or array tasks ("1234", "1234_7").
    func cancel(_ jobs: [String]) async throws {
        guard !jobs.isEmpty else { return }
        _ = try await run("scancel", jobs)
    }

    // MARK: parsing

    /// Lines "1234_7|RUNNING" (squeue `%i|%T`, sacct `JobID,State` with --parsable2), by task.
    /// Tasks Slurm has not split off their array yet (never started: "1234_[8-9%2]", or "1234"
    /// once such an array has ended) are under the array job id ("1234"): see `state(of:in:)`.
    /// Job steps ("1234_7.batch") are left out.
    static func parseStates(_ output: String) -> [String: SlurmJobState] {
        var states: [String: SlurmJobState] = [:]
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false)
            guard fields.count >= 2 else { continue }
            var task = fields[0].trimmingCharacters(in: .whitespaces)
            if let bracket = task.range(of: "_[") { task = String(task[..<bracket.lowerBound]) }
            guard !task.isEmpty, task.allSatisfy({ $0.isNumber || $0 == "_" }) else { continue }
            states[task] = SlurmJobState(rawValue: fields[1].trimmingCharacters(in: .whitespaces))
        }
        return states
    }

    /// The state of array task `task` ("1234_7"): its own line, else its array's unsplit tasks'.
    static func state(of task: String, in states: [String: SlurmJobState]) -> SlurmJobState? {
        states[task] ?? states[SlurmReconciler.arrayJob(of: task)]
    }

    // MARK: running

    func run(_ tool: String, _ arguments: [String]) async throws -> String {
        let result: ExecutionResult<Void, StringOutput<UTF8>, StringOutput<UTF8>>
        do {
            let executable: Executable = tools.map { .path(FilePath($0.appendingPathComponent(tool).path)) } ?? .name(tool)
            result = try await Subprocess.run(executable, arguments: Arguments(arguments), input: .none,
                                              output: .string(limit: 64 << 20), error: .string(limit: 1 << 20))
        } catch {
            throw SlurmError.notAvailable(tool: tool, why: "\(error)")
        }
        let output = result.standardOutput
        guard case .exited(0) = result.terminationStatus else {
            let message = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            throw SlurmError.failed(tool: tool, arguments: arguments, message: message.isEmpty ? output : message)
        }
        return output
    }
}

public enum SlurmError: Error, Equatable, CustomStringConvertible {
    case notAvailable(tool: String, why: String)
    case failed(tool: String, arguments: [String], message: String)
    case unexpectedOutput(tool: String, output: String)
    /// The runs cannot be submitted within the cluster's limits.
    case doesNotFit(String)

    public var description: String {
        switch self {
        case .notAvailable(let tool, let why):
            return "could not run \(tool) (is Slurm installed and on PATH?): \(why)"
        case .failed(let tool, let arguments, let message):
            return "\(tool) \(arguments.joined(separator: " ")) failed: \(message)"
        case .unexpectedOutput(let tool, let output):
            return "\(tool) printed something unexpected: \(output.prefix(200))"
        case .doesNotFit(let why):
            return "the runs do not fit in the cluster's limits: \(why)"
        }
    }
}
