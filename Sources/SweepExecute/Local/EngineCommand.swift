import Foundation
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
        let searchPath = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        self.environment = spec.environment
        if let command = spec.command, let first = command.first {
            arguments = Array(command.dropFirst())
            if first.contains("/") {
                let base = manifestDirectory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
                let path = first.hasPrefix("/") ? first : base.appendingPathComponent(first).standardizedFileURL.path
                guard Self.isExecutable(path) else { throw ExecuteError.engineNotFound(first, searched: [path]) }
                executable = path
            } else {
                guard let found = Self.search(first, in: searchPath) else {
                    throw ExecuteError.engineNotFound(first, searched: searchPath)
                }
                executable = found
            }
        } else {
            arguments = ["--config", "{config}", "--out", "{out}"]
            let places = (besideExecutable.map { [$0.path] } ?? []) + searchPath
            guard let found = Self.search("mtl-engine", in: places) else {
                throw ExecuteError.engineNotFound("mtl-engine", searched: places)
            }
            executable = found
        }
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
