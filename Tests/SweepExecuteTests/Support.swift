import Foundation
import RunContract
import SweepCore
import SweepLedger
@testable import SweepExecute
import Synchronization

/// A workspace in a fresh temporary folder, removed when the value goes away.
final class TemporaryWorkspace: Sendable {
    let workspace: Workspace
    let ledger: Ledger

    init() throws {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("sweep-execute-tests-\(UUID().uuidString.prefix(8))")
        workspace = Workspace(root: root)
        ledger = try Ledger(workspace: workspace)
    }

    var root: URL { workspace.root }

    deinit { try? FileManager.default.removeItem(at: workspace.root) }
}

/// A run whose id derives from its group and name, so tests can refer to runs by name.
func run(_ name: String, group: String = "grid", needs: [String: String] = [:], config: [String: JSONValue] = [:],
         engine: EngineSpec = EngineSpec(identity: "test")) -> PlannedRun {
    var members = config
    members["name"] = .string(name)
    for (key, dependency) in needs { members[key] = .string(RunReference.make(id(dependency))) }
    return PlannedRun(id: id(name), group: group, label: name, seed: 0, config: .object(members),
                      needs: needs.mapValues(id))
}

func id(_ name: String) -> RunID { RunID(rawValue: "run-\(name)") }

func plan(_ runs: [PlannedRun], engine: EngineSpec = EngineSpec(identity: "test")) -> Plan {
    Plan(name: "test", runs: runs, engine: engine)
}

func options(slots: Int = 2, retries: Int = 0, _ change: (inout RunOptions) -> Void = { _ in }) -> RunOptions {
    var options = RunOptions(slots: slots, threadsPerRun: 1, cores: 2, retries: retries, grace: .milliseconds(500),
                             trapSignals: false, ledgerPollInterval: .milliseconds(20))
    change(&options)
    return options
}

/// Collects progress events for assertions.
final class EventLog: ProgressSink {
    let events = Mutex<[ExecutionEvent]>([])
    func handle(_ event: ExecutionEvent) { events.withLock { $0.append(event) } }
    var all: [ExecutionEvent] { events.withLock { $0 } }
}

/// Start and end order of scripted runs.
final class Timeline: Sendable {
    enum Mark: Equatable { case start(String), end(String) }
    let marks = Mutex<[Mark]>([])
    func mark(_ mark: Mark) { marks.withLock { $0.append(mark) } }
    var all: [Mark] { marks.withLock { $0 } }
    func index(_ mark: Mark) -> Int? { all.firstIndex(of: mark) }
}

extension RunAttempt {
    var name: String { run.label ?? run.id.rawValue }
}
