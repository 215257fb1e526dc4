import Foundation
import RunContract
import Subprocess
import SweepCore
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Asks the engine whether a plan's configs are valid before anything starts
/// (docs/run-contract.md, "Checking configs"), so a bad value is reported for every run it
/// touches at once instead of as a failed first run and a grid of skipped ones.
///
/// Configs that differ only in `seed`, `needs` and the ids inside `run://` references are one
/// question: the first run of each such class is checked, and its answer stands for the class.
public struct ConfigCheck: Sendable {
    /// One distinct problem and the runs that have it.
    public struct Rejection: Sendable, Equatable {
        public var key: String?
        public var message: String
        /// In plan order.
        public var runs: [RunID]
    }

    public enum Outcome: Sendable, Equatable {
        /// `configs` distinct configs were checked for `runs` runs (those whose engine has a check);
        /// `rejections` is empty when all are valid.
        case checked(configs: Int, runs: Int, rejections: [Rejection])
        /// No engine of the plan declares a check (`engine: validate:`).
        case notSupported
    }

    /// Each engine's check by engine name (`PlannedRun.engine`; nil: the manifest's `engine`).
    /// Runs of an engine without one are not checked.
    let commands: [String?: EngineCommand]

    public init(plan: Plan, manifestDirectory: URL?) throws {
        var commands: [String?: EngineCommand] = [:]
        for name in plan.enginesInUse {
            commands[name] = try EngineCommand.validation(plan.engine(named: name),
                                                          manifestDirectory: manifestDirectory)
        }
        self.commands = commands
    }

    init(command: EngineCommand?) { commands = command.map { [nil: $0] } ?? [:] }

    public func check(_ plan: Plan) async throws -> Outcome {
        guard !commands.isEmpty else { return .notSupported }
        var configs = 0, runs = 0
        var byProblem: [String: Int] = [:]
        var rejections: [Rejection] = []
        // Each engine answers for its own runs, one invocation per engine.
        for name in plan.enginesInUse {
            guard let command = commands[name] else { continue }
            var classOf: [RunID: Int] = [:]
            var representatives: [PlannedRun] = []
            var members: [[RunID]] = []
            for run in plan.runs where run.engine == name {
                let key = Self.classKey(run.config)
                if let index = classOf[key] {
                    members[index].append(run.id)
                } else {
                    classOf[key] = representatives.count
                    representatives.append(run)
                    members.append([run.id])
                }
            }
            // One config per line on standard input: no files to write (a few ms each on a busy
            // disk) and no argument list to outgrow.
            var lines = ""
            for run in representatives { lines += run.config.canonical + "\n" }
            let verdicts = try await run(command, configs: lines, count: representatives.count)
            configs += representatives.count
            runs += members.reduce(0) { $0 + $1.count }

            for (index, verdict) in verdicts.enumerated() where !verdict.valid {
                let message = verdict.message ?? "invalid config"
                let problem = (verdict.key ?? "") + "\u{1F}" + message
                if let known = byProblem[problem] {
                    rejections[known].runs += members[index]
                } else {
                    byProblem[problem] = rejections.count
                    rejections.append(Rejection(key: verdict.key, message: message, runs: members[index]))
                }
            }
        }
        let order = plan.position
        for index in rejections.indices { rejections[index].runs.sort { order[$0]! < order[$1]! } }
        return .checked(configs: configs, runs: runs, rejections: rejections)
    }

    /// The engine's verdicts on the `count` configs of `configs` (one per line), in order.
    private func run(_ command: EngineCommand, configs: String, count: Int) async throws -> [ConfigVerdict] {
        var environment: [Environment.Key: String?] = [
            Environment.Key(stringLiteral: RunEnvironment.threads): "1",
            Environment.Key(stringLiteral: RunEnvironment.openBLASThreads): "1",
        ]
        for (name, value) in command.environment { environment[Environment.Key(stringLiteral: name)] = value }
        let result: ExecutionResult<Void, StringOutput<UTF8>, StringOutput<UTF8>>
        do {
            result = try await Subprocess.run(.path(FilePath(command.executable)),
                                              arguments: Arguments(command.arguments + [ConfigValidation.standardInput]),
                                              environment: .inherit.updating(environment), input: .string(configs),
                                              output: .string(limit: 256 << 20), error: .string(limit: 1 << 20))
        } catch {
            throw ConfigCheckError(command: command, problem: "could not run it: \(error)")
        }
        let status: Int32? = if case .exited(let code) = result.terminationStatus { code } else { nil }
        let decoder = JSONDecoder()
        let verdicts = result.standardOutput.split(separator: "\n").compactMap {
            try? decoder.decode(ConfigVerdict.self, from: Data($0.utf8))
        }
        guard status == RunExit.success || status == RunExit.badInput, verdicts.count == count else {
            let stderr = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            let how = status.map { "exited with status \($0)" } ?? "was killed (\(result.terminationStatus))"
            throw ConfigCheckError(command: command, problem: "it \(how) and printed \(verdicts.count) verdicts for "
                                   + "\(count) configs" + (stderr.isEmpty ? "" : ": " + String(stderr.suffix(2000))))
        }
        return verdicts
    }

    /// What makes two configs the same question: all but `seed`, `needs` and the run ids of
    /// references, hashed as run ids are (a million runs' canonical texts would take hundreds of MB).
    static func classKey(_ config: JSONValue) -> RunID {
        guard case .object(var members) = config else { return RunID(config: config, engine: EngineSpec()) }
        members[ReservedConfigKey.seed] = nil
        members[ReservedConfigKey.needs] = nil
        return RunID(config: JSONValue.object(members).withoutRunIDs, engine: EngineSpec())
    }
}

/// The engine's config check could not give an answer (it crashed, or printed something other
/// than one verdict per config).
public struct ConfigCheckError: Error, CustomStringConvertible {
    let command: EngineCommand
    let problem: String

    public var description: String {
        "checking the configs with `\(([command.executable] + command.arguments).joined(separator: " ")) -` failed: \(problem)"
    }
}

private extension JSONValue {
    /// `run://<id>/path` -> `run:///path`: dependencies' ids differ from run to run, the check does not.
    var withoutRunIDs: JSONValue {
        switch self {
        case .string(let text):
            guard let id = RunReference.target(of: text) else { return self }
            return .string(RunReference.scheme + text.dropFirst(RunReference.scheme.count + id.rawValue.count))
        case .array(let values): return .array(values.map(\.withoutRunIDs))
        case .object(let members): return .object(members.mapValues(\.withoutRunIDs))
        default: return self
        }
    }
}
