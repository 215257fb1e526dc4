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
        Self.tail(of: stderrURL, from: UInt64(stderrStart), lines: lines)
    }

    /// The last `lines` lines (at most 8 KB) of a log written from offset `from` on, without
    /// header lines; with `from` nil, of what follows the last header line (a batch task's
    /// attempt, whose start offset no one kept). Nil when there is no such line.
    static func tail(of url: URL, from start: UInt64?, lines: Int) -> String? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        let end = (try? handle.seekToEnd()) ?? 0
        let limit: UInt64 = 8192
        let from = max(start ?? 0, end > limit ? end - limit : 0)
        guard (try? handle.seek(toOffset: from)) != nil, let data = try? handle.readToEnd() else { return nil }
        var text = String(decoding: data, as: UTF8.self)
        // Drop the partial line the 8 KB window cut.
        if from > (start ?? 0), let newline = text.firstIndex(of: "\n") {
            text = String(text[text.index(after: newline)...])
        }
        var written = text.split(separator: "\n", omittingEmptySubsequences: false)
        if start == nil, let header = written.lastIndex(where: { $0.hasPrefix(headerPrefix) }) {
            written = Array(written[(header + 1)...])
        }
        let kept = written.filter { !$0.hasPrefix(headerPrefix) }.reversed().drop { $0.isEmpty }.prefix(lines).reversed()
        let tail = kept.joined(separator: "\n")
        return tail.isEmpty ? nil : tail
    }
}
