import Foundation

/// `engine.pid` in a run directory: the process group of the engine running there. A `sweep`
/// killed with SIGKILL cannot stop its engines; the next `sweep` that launches the run finds the
/// file and stops the stray engine before a new one writes into the same directory.
enum EngineProcessFile {
    static let name = "engine.pid"

    static func write(pid: pid_t, in directory: URL) {
        try? Data("\(pid)\n".utf8).write(to: directory.appendingPathComponent(name), options: .atomic)
    }

    /// Stops the engine recorded in `directory` if it still runs there: SIGTERM to its group,
    /// SIGKILL after `grace`. Returns its pid when there was one.
    @discardableResult
    static func stopStray(in directory: URL, grace: Duration) async -> pid_t? {
        let file = directory.appendingPathComponent(name)
        guard let text = try? String(contentsOf: file, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
              isEngine(pid, in: directory)
        else {
            try? FileManager.default.removeItem(at: file)
            return nil
        }
        kill(-pid, SIGTERM)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while clock.now < deadline, isRunning(pid) {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if isRunning(pid) { kill(-pid, SIGKILL) }
        try? FileManager.default.removeItem(at: file)
        return pid
    }

    /// Exists and is not a zombie (a stray's parent is gone, so whoever reaps it may be slow).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        #if os(Linux)
        // /proc/PID/stat: "PID (name) STATE ..."; the name may contain spaces or parentheses.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
        }
        #endif
        return true
    }

    /// The pid names a live process group leader (engines are started as one); on Linux, its
    /// working directory must also be the run directory, so a recycled pid is never signalled.
    private static func isEngine(_ pid: pid_t, in directory: URL) -> Bool {
        guard isRunning(pid), getpgid(pid) == pid else { return false }
        #if os(Linux)
        guard let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd") else {
            return false
        }
        return URL(fileURLWithPath: cwd).standardizedFileURL.resolvingSymlinksInPath().path
            == directory.standardizedFileURL.resolvingSymlinksInPath().path
        #else
        return true
        #endif
    }
}
