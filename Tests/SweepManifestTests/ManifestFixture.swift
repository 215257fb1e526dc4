import Foundation
import SweepCore
@testable import SweepManifest

/// Writes manifests (and any files they include) into a fresh temporary directory.
struct ManifestFixture {
    let directory: URL

    init() {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sweep-manifest-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ name: String, _ text: String) -> URL {
        let url = directory.appendingPathComponent(name)
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func plan(_ text: String, overrides: [String] = [], profile: String? = nil) throws -> Plan {
        try ManifestLoader.load(file: write("manifest.yaml", text), overrides: overrides, profile: profile)
    }

    /// The error loading `text` throws (nil when it loads).
    func error(_ text: String, overrides: [String] = [], profile: String? = nil) -> ManifestError? {
        do {
            _ = try plan(text, overrides: overrides, profile: profile)
            return nil
        } catch let error as ManifestError {
            return error
        } catch {
            return ManifestError(file: "?", line: 0, column: 0, keyPath: "", problem: "unexpected \(error)")
        }
    }
}

/// The repository root (for the example manifests).
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

extension Plan {
    func runs(in group: String) -> [PlannedRun] { runs.filter { $0.group == group } }
}
