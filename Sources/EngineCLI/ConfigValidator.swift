import ArgumentParser
import Engine
import Foundation
import RunContract

/// `mtl-engine --validate-config FILE...`: the run contract's config check. Each file goes
/// through `RunConfig.load`, the same validation a run starts with, and nothing is trained.
enum ConfigValidator {
    static func run(_ files: [String]) throws {
        let encoder = ContractJSON.encoder()
        var allValid = true
        func report(_ verdict: ConfigVerdict) throws {
            allValid = allValid && verdict.valid
            var line = try encoder.encode(verdict)
            line.append(UInt8(ascii: "\n"))
            FileHandle.standardOutput.write(line)
        }
        for file in files {
            guard file == ConfigValidation.standardInput else {
                try report(verdict(file))
                continue
            }
            let input = FileHandle.standardInput.readDataToEndOfFile()
            for (index, line) in input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
            where !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
                try report(verdict(Data(line), name: "-:\(index + 1)"))
            }
        }
        if !allValid { throw ExitCode(RunExit.badInput) }
    }

    static func verdict(_ file: String) -> ConfigVerdict {
        verdict(file: file) { try RunConfig.load(from: URL(fileURLWithPath: file), dependenciesPending: true) }
    }

    /// One config given as text (a line of standard input), named `name` in the verdict.
    static func verdict(_ data: Data, name: String) -> ConfigVerdict {
        verdict(file: name) { try RunConfig.parse(data, file: name, dependenciesPending: true) }
    }

    private static func verdict(file: String, _ check: () throws -> RunConfig) -> ConfigVerdict {
        do {
            _ = try check()
            return ConfigVerdict(file: file, valid: true)
        } catch let error as ConfigError {
            return ConfigVerdict(file: file, valid: false, key: error.key, message: error.message)
        } catch {
            return ConfigVerdict(file: file, valid: false, message: "\(error)")
        }
    }
}
