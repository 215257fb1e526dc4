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
        for file in files {
            let verdict = self.verdict(file)
            allValid = allValid && verdict.valid
            var line = try encoder.encode(verdict)
            line.append(UInt8(ascii: "\n"))
            FileHandle.standardOutput.write(line)
        }
        if !allValid { throw ExitCode(RunExit.badInput) }
    }

    static func verdict(_ file: String) -> ConfigVerdict {
        do {
            _ = try RunConfig.load(from: URL(fileURLWithPath: file), dependenciesPending: true)
            return ConfigVerdict(file: file, valid: true)
        } catch let error as ConfigError {
            return ConfigVerdict(file: file, valid: false, key: error.key, message: error.message)
        } catch {
            return ConfigVerdict(file: file, valid: false, message: "\(error)")
        }
    }
}
