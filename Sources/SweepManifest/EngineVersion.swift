import Foundation

/// An engine's `version: [...]` command (docs/manifest.md, "Engines"): what it prints is part of
/// the engine's identity, so a new version of the engine plans new runs rather than reusing the
/// old ones' results.
enum EngineVersion {
    /// How long the command may take; a version query that hangs is a broken engine.
    static let timeout: TimeInterval = 60

    /// Runs `command` in the manifest's folder (a program with a slash is relative to it, a bare
    /// name is looked up on PATH) and returns the first non-empty line of its standard output.
    static func query(_ command: [String], at node: ManifestNode, manifestDirectory: URL) throws(ManifestError) -> String {
        let process = Process()
        let program = command[0]
        if program.contains("/") {
            process.executableURL = program.hasPrefix("/") ? URL(fileURLWithPath: program)
                : manifestDirectory.appendingPathComponent(program).standardizedFileURL
            process.arguments = Array(command.dropFirst())
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = command
        }
        process.currentDirectoryURL = manifestDirectory
        // stderr goes to a file: two pipes read one after the other could fill and block.
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-version-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try? FileHandle(forWritingTo: errorFile)
        process.standardInput = FileHandle.nullDevice
        let shown = command.joined(separator: " ")
        do { try process.run() } catch {
            throw node.error("cannot run the engine's version command `\(shown)`: \(error.localizedDescription)",
                             expected: "a command that prints the engine's version")
        }
        let timer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let complaint = (try? Data(contentsOf: errorFile)) ?? Data()
        timer.cancel()
        let line = String(decoding: printed, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty }
        guard process.terminationReason == .exit, process.terminationStatus == 0, let line else {
            let status = process.terminationReason == .exit ? "exited with status \(process.terminationStatus)" : "was killed"
            let stderr = String(decoding: complaint, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw node.error("the engine's version command `\(shown)` " + (line == nil && process.terminationStatus == 0
                                 ? "printed nothing" : status) + (stderr.isEmpty ? "" : ": " + String(stderr.suffix(500))),
                             expected: "a command that exits 0 and prints the engine's version on its first line")
        }
        return line
    }
}
