import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn and reaped with waitpid on its own pid. Foundation's
/// Process learns that a child ended from a SIGCHLD handler, and swift-subprocess (used by other
/// test targets in this same test process) may install its own SIGCHLD handler in its place; a
/// Process started after that never ends as far as Foundation knows. Polling waitpid on a pid
/// does not depend on who owns SIGCHLD.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private let lock = NSLock()
    private var exit: Int32?

    /// Runs `executable arguments...` in `directory`, with `environment` as its whole
    /// environment and its output appended to the given files.
    init(_ executable: String, _ arguments: [String], in directory: URL?, environment: [String: String],
         stdout: URL, stderr: URL) throws {
        // `cd` happens in the child: sh changes directory, then execs the program in its place.
        let argv = directory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0.path, executable] + arguments }
            ?? [executable] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArguments + cEnvironment).forEach { free($0) } }
        // A user's shell starts programs with no signals blocked and default handlers; the test
        // runner's threads may block SIGTERM, and a spawned child would inherit that mask.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let code = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, cEnvironment)
        guard code == 0 else { throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO) }
        self.pid = pid
    }

    /// Reaps the child if it has ended.
    var isRunning: Bool { status == nil }

    /// Its exit code, or the number of the signal that killed it; nil while it runs.
    var status: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if exit == nil {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid {
                let signal = raw & 0x7f
                exit = signal == 0 ? (raw >> 8) & 0xff : signal
            }
        }
        return exit
    }

    /// Waits for the end, polling every 20 ms.
    func wait() async -> Int32 {
        while true {
            if let status { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
