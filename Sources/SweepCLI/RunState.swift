import ArgumentParser
import SweepCore
import SweepLedger

/// A run's state as `sweep plan` and `sweep status` show it: the ledger's status, with runs
/// that never started (unknown to the ledger, or registered but not claimed) called "new".
enum RunState: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    case new, running, succeeded, failed, interrupted, skipped

    init(_ status: RunStatus?) {
        switch status {
        case nil, .planned: self = .new
        case .running: self = .running
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .interrupted: self = .interrupted
        case .skipped: self = .skipped
        }
    }
}

/// "3 succeeded · 1 failed · 20 new", states in a fixed order, zero counts left out.
func stateCounts(_ states: some Sequence<RunState>) -> String {
    var counts: [RunState: Int] = [:]
    for state in states { counts[state, default: 0] += 1 }
    let parts = RunState.allCases.compactMap { state in counts[state].map { "\($0) \(state.rawValue)" } }
    return parts.isEmpty ? "no runs" : parts.joined(separator: " · ")
}
