import Foundation
import RunContract
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// stdout.log and stderr.log of a run directory, opened for appending: each attempt adds a header
/// line and its output below the previous attempts'.
struct RunLogs: Sendable {
    let stdout: FileDescriptor
    let stderr: FileDescriptor
    let stderrURL: URL
    static let headerPrefix = "==== sweep "
    /// Where this attempt's stderr starts, so its tail never shows an older attempt's lines.
    private let stderrStart: Int64

    init(directory: URL) throws {
        let permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
        stdout = try FileDescriptor.open(directory.appendingPathComponent(RunFiles.stdout).path, .writeOnly,
                                         options: [.create, .append], permissions: permissions)
        stderrURL = directory.appendingPathComponent(RunFiles.stderr)
        do {
            stderr = try FileDescriptor.open(stderrURL.path, .writeOnly, options: [.create, .append],
                                             permissions: permissions)
        } catch {
            try? stdout.close()
            throw error
        }
        stderrStart = (try? stderr.seek(offset: 0, from: .end)) ?? 0
    }

    func writeHeader(_ text: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        let line = "\(Self.headerPrefix)\(stamp) \(text)\n"
        _ = try? stdout.writeAll(line.utf8)
        _ = try? stderr.writeAll(line.utf8)
    }

    /// The last `lines` lines this attempt wrote to stderr (at most 8 KB), or nil when it wrote none.
    func stderrTail(lines: Int) -> String? {
        guard let handle = try? FileHandle(forReadingFrom: stderrURL) else { return nil }
        defer { try? handle.close() }
        let end = (try? handle.seekToEnd()) ?? 0
        let limit: UInt64 = 8192
        let headerEnd = UInt64(stderrStart)
        let from = max(headerEnd, end > limit ? end - limit : 0)
        guard (try? handle.seek(toOffset: from)) != nil, let data = try? handle.readToEnd() else { return nil }
        var text = String(decoding: data, as: UTF8.self)
        // Drop the partial line the 8 KB window cut, and the attempt's own header lines.
        if from > headerEnd, let newline = text.firstIndex(of: "\n") {
            text = String(text[text.index(after: newline)...])
        }
        let written = text.split(separator: "\n", omittingEmptySubsequences: false)
            .drop { from == headerEnd && $0.hasPrefix(Self.headerPrefix) }
        let kept = written.reversed().drop { $0.isEmpty }.prefix(lines).reversed()
        let tail = kept.joined(separator: "\n")
        return tail.isEmpty ? nil : tail
    }
}
