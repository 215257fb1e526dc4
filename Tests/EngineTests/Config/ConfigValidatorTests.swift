import Foundation
import RunContract
import Testing
@testable import Engine
@testable import EngineCLI

/// `mtl-engine --validate-config`: the run contract's config check, through `RunConfig.load`.
@Suite struct ConfigValidatorTests {
    static func file(_ json: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("validate-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: url)
        return url.path
    }

    @Test func aValidConfigPassesAndABadValueIsNamedWithItsKey() throws {
        let good = try Self.file(#"{"kind": "mtl_full", "method": "lora", "rank": 4}"#)
        let bad = try Self.file(#"{"kind": "mtl_full", "method": "lora", "rank": -1}"#)
        defer { try? FileManager.default.removeItem(atPath: good); try? FileManager.default.removeItem(atPath: bad) }
        #expect(ConfigValidator.verdict(good) == ConfigVerdict(file: good, valid: true))
        let verdict = ConfigValidator.verdict(bad)
        #expect(!verdict.valid && verdict.key == "rank")
        #expect(verdict.message == "expected an integer in 1...4096, got -1")
    }

    /// Before a sweep runs, its dependencies' run directories do not exist: their `run://`
    /// references are taken as paths still to be made, and only then.
    @Test func dependencyReferencesArePendingOnlyWhenChecking() throws {
        let json = #"""
            {"kind": "mtl_full", "method": "tglora", "rank": 16, "task_rank": 4,
             "pretrained": "run://0123456789abcdef/backbone.safetensors",
             "task_similarity": "run://fedcba9876543210/similarity.json",
             "needs": {"pretrain": "run://0123456789abcdef", "similarity": "run://fedcba9876543210"}}
            """#
        let path = try Self.file(json)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(ConfigValidator.verdict(path).valid, "\(ConfigValidator.verdict(path))")
        #expect(throws: ConfigError.self) { try RunConfig.load(from: URL(fileURLWithPath: path)) }
    }

    /// `--validate-config -`: a line of standard input is a config, named by its line.
    @Test func aConfigGivenAsALineIsNamedByIt() {
        #expect(ConfigValidator.verdict(Data(#"{"kind": "pretrain"}"#.utf8), name: "-:1") == ConfigVerdict(file: "-:1", valid: true))
        let verdict = ConfigValidator.verdict(Data(#"{"kind": "x"}"#.utf8), name: "-:2")
        #expect(verdict.file == "-:2" && !verdict.valid && verdict.key == "kind")
    }

    @Test func aFileThatIsNotJSONIsInvalidNotACrash() throws {
        let path = try Self.file("{not json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let verdict = ConfigValidator.verdict(path)
        #expect(!verdict.valid && verdict.key == nil && verdict.message?.contains("not valid JSON") == true)
    }
}
