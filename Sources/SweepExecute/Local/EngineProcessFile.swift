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
    /// SIGKILL after `grace`. Returns whether there was one.
    @discardableResult
    static func stopStray(in directory: URL, grace: Duration) async -> Bool {
        let file = directory.appendingPathComponent(name)
        guard let text = try? String(contentsOf: file, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
              isEngine(pid, in: directory)
        else {
            try? FileManager.default.removeItem(at: file)
            return false
        }
        kill(-pid, SIGTERM)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while clock.now < deadline, kill(pid, 0) == 0 {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if kill(pid, 0) == 0 { kill(-pid, SIGKILL) }
        try? FileManager.default.removeItem(at: file)
        return true
    }

    /// The pid names a live process group leader (engines are started as one); on Linux, its
    /// working directory must also be the run directory, so a recycled pid is never signalled.
    private static func isEngine(_ pid: pid_t, in directory: URL) -> Bool {
        guard kill(pid, 0) == 0, getpgid(pid) == pid else { return false }
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
