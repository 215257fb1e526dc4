import Foundation
import RunContract
import SweepCore

/// The engine invocation of a plan, resolved once before anything starts so that a missing
/// engine is one clear error rather than a failure per run.
struct EngineCommand: Sendable, Equatable {
    /// Absolute path of the executable.
    let executable: String
    /// Arguments with `{config}` and `{out}` still in them.
    let arguments: [String]
    /// Set for every run, beside the thread budget (the pinned BLAS core).
    var environment: [String: String] = [:]

    /// - Parameters:
    ///   - manifestDirectory: relative executables in a manifest's command (`./train.sh`) are
    ///     found from the manifest's folder, since the engine itself runs inside its run directory.
    ///   - besideExecutable: where our own `mtl-engine` is looked for first (the folder of `sweep`).
    init(_ spec: EngineSpec, manifestDirectory: URL?, besideExecutable: URL? = EngineCommand.runningExecutableDirectory,
         environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.environment = spec.environment
        if let command = spec.command, let first = command.first {
            arguments = Array(command.dropFirst())
            executable = try Self.locate(first, manifestDirectory: manifestDirectory, besideExecutable: nil,
                                         environment: environment)
        } else {
            arguments = ["--config", "{config}", "--out", "{out}"]
            executable = try Self.locate("mtl-engine", manifestDirectory: nil, besideExecutable: besideExecutable,
                                         environment: environment)
        }
    }

    /// The invocation of every engine the plan's runs use, by engine name (nil: the manifest's
    /// `engine`), each resolved before anything starts.
    static func all(for plan: Plan) throws -> [String?: EngineCommand] {
        var commands: [String?: EngineCommand] = [:]
        for name in plan.enginesInUse {
            let spec = plan.engine(named: name)
            commands[name] = try EngineCommand(spec, manifestDirectory: plan.manifest?.deletingLastPathComponent())
        }
        return commands
    }

    private init(executable: String, arguments: [String], environment: [String: String]) {
        self.executable = executable; self.arguments = arguments; self.environment = environment
    }

    /// How the engine checks configs before anything runs (`-` is appended: the configs come on
    /// standard input), or nil for an engine that declares no check.
    static func validation(_ spec: EngineSpec, manifestDirectory: URL?,
                           besideExecutable: URL? = EngineCommand.runningExecutableDirectory,
                           environment: [String: String] = ProcessInfo.processInfo.environment) throws -> EngineCommand? {
        if let command = spec.validate, let first = command.first {
            let executable = try locate(first, manifestDirectory: manifestDirectory, besideExecutable: nil, environment: environment)
            return EngineCommand(executable: executable, arguments: Array(command.dropFirst()), environment: spec.environment)
        }
        guard spec.command == nil else { return nil }
        let executable = try locate("mtl-engine", manifestDirectory: nil, besideExecutable: besideExecutable, environment: environment)
        return EngineCommand(executable: executable, arguments: [ConfigValidation.flag], environment: spec.environment)
    }

    /// A program named with a slash is a path (relative to the manifest's folder); a bare name is
    /// looked for beside `sweep` (our own engine) and on PATH.
    private static func locate(_ program: String, manifestDirectory: URL?, besideExecutable: URL?,
                               environment: [String: String]) throws -> String {
        let searchPath = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        if program.contains("/") {
            let base = manifestDirectory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let path = program.hasPrefix("/") ? program : base.appendingPathComponent(program).standardizedFileURL.path
            guard isExecutable(path) else { throw ExecuteError.engineNotFound(program, searched: [path]) }
            return path
        }
        let places = (besideExecutable.map { [$0.path] } ?? []) + searchPath
        guard let found = search(program, in: places) else { throw ExecuteError.engineNotFound(program, searched: places) }
        return found
    }

    /// The arguments of one run, placeholders substituted (also inside longer arguments such as
    /// `--config={config}`).
    func arguments(config: URL, out: URL) -> [String] {
        arguments.map {
            $0.replacingOccurrences(of: "{config}", with: config.path)
                .replacingOccurrences(of: "{out}", with: out.path)
        }
    }

    static var runningExecutableDirectory: URL? {
        Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent()
    }

    private static func search(_ name: String, in directories: [String]) -> String? {
        directories.lazy
            .map { URL(fileURLWithPath: $0).appendingPathComponent(name).path }
            .first(where: isExecutable)
    }

    private static func isExecutable(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && access(path, X_OK) == 0
    }
}
