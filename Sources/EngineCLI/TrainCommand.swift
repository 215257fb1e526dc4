import ArgumentParser
import Engine
import Foundation
import RunContract
import Tensors

/// Runs one training run: reads RUN_DIR/config.json, resumes from RUN_DIR's checkpoint if there
/// is one, appends progress.jsonl, and writes metrics.json when done.
public struct TrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train one run (the default command).",
        discussion: """
            Exit codes: 0 success (metrics.json written), 2 bad config or a missing / malformed
            file of the real data set under data_root (no metrics written),
            3 stopped by SIGTERM/SIGINT (checkpoint kept; run the same command to resume),
            1 any other failure. Threads: MTL_THREADS (default 1).
            The config's keys, what each accepts and its default: `mtl-engine keys`.

            --validate-config FILE... checks configs without training: one JSON line per file
            ({"file", "valid", "key", "message"}), exit 0 when all are valid, 2 when some is not.
            """)

    @Option(help: "The run's config.json.")
    public var config: String?

    @Option(help: "The run directory (progress.jsonl, checkpoint, metrics.json).")
    public var out: String?

    @Option(name: .customLong("validate-config"), parsing: .upToNextOption,
            help: ArgumentHelp("Check these config files and exit; train nothing (docs/run-contract.md).", valueName: "file"))
    public var validateConfig: [String] = []

    public init() {}

    public func validate() throws {
        if validateConfig.isEmpty, config == nil || out == nil {
            throw ValidationError("give --config FILE and --out DIR to train, or --validate-config FILE... to check configs")
        }
    }

    public func run() throws {
        if !validateConfig.isEmpty { return try ConfigValidator.run(validateConfig) }
        guard let config, let out else { return }
        let configURL = URL(fileURLWithPath: config)
        let runConfig: RunConfig
        do {
            runConfig = try RunConfig.load(from: configURL)
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("mtl-engine: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if let pinned = ProcessInfo.processInfo.environment[RunEnvironment.pinnedBLASCore], !pinned.isEmpty,
           pinned.lowercased() != NumericLibraries.blasCore.lowercased() {
            FileHandle.standardError.write(Data("""
                mtl-engine: the run pins the BLAS core \(pinned), but OpenBLAS loaded \(NumericLibraries.blasCore) \
                (this CPU cannot run \(pinned)'s kernels, or this OpenBLAS does not know the name); \
                pin a core this machine supports, or none\n
                """.utf8))
            throw ExitCode(2)
        }
        StopRequest.installSignalHandlers()
        do {
            try RunDriver(config: runConfig, directory: URL(fileURLWithPath: out)).run()
        } catch let stopped as RunStopped {
            FileHandle.standardError.write(Data("mtl-engine: \(stopped)\n".utf8))
            throw ExitCode(3)
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("mtl-engine: \(error)\n".utf8))
            throw ExitCode(2)
        } catch let error as DataFileError {
            // A file of the real data set (data_root) is missing or not as the layout expects.
            FileHandle.standardError.write(Data("mtl-engine: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
