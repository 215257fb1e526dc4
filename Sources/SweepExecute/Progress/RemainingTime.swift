import SweepCore

/// How long the rest of a sweep should take, as `sweep run` shows it.
public struct RemainingTime: Sendable, Equatable {
    /// Seconds until the runs left are done, counting untimed runs as taking no time.
    public var seconds: Double
    /// Runs left, running ones included.
    public var runs: Int
    /// Runs left with nothing to time them by: no past run of their group in this workspace
    /// and, when running, no pace of their own yet. When it is not 0, `seconds` is a lower bound.
    public var untimedRuns: Int

    public init(seconds: Double, runs: Int, untimedRuns: Int) {
        self.seconds = seconds; self.runs = runs; self.untimedRuns = untimedRuns
    }

    /// Plays the scheduler forward: the running runs end when their `left` says, and the
    /// runs not started begin in plan order as slots free up and the runs they need end, each
    /// taking its `expected` time. A long run that everything else needs (a pretraining
    /// run) then counts once, on the critical path, not once per slot.
    /// - Parameters:
    ///   - runsLeft: runs not ended yet, in plan order, running ones included.
    ///   - running: seconds left of each running run; nil when it has nothing to go by.
    ///   - expected: seconds a run takes from its start; nil when nothing tells.
    public static func simulate(runsLeft: [PlannedRun], running: [RunID: Double?], slots: Int,
                         expected: (PlannedRun) -> Double?) -> RemainingTime {
        var untimed = 0
        var position: [RunID: Int] = [:]
        for (index, run) in runsLeft.enumerated() { position[run.id] = index }
        var unmet = [Int](repeating: 0, count: runsLeft.count)
        var dependents: [RunID: [Int]] = [:]
        for (index, run) in runsLeft.enumerated() where running[run.id] == nil {
            // Runs needed but not left have ended; had one failed, this run would be skipped.
            for dependency in Set(run.needs.values) where position[dependency] != nil {
                dependents[dependency, default: []].append(index)
                unmet[index] += 1
            }
        }
        // Ends of the runs occupying slots; never more entries than slots (or the running runs).
        var ends: [(time: Double, id: RunID)] = running.map { id, left in
            if left == nil { untimed += 1 }
            return (left ?? 0, id)
        }
        var ready = PlanOrderQueue(runsLeft.indices.filter { running[runsLeft[$0].id] == nil && unmet[$0] == 0 })
        var now = 0.0
        while true {
            while ends.count < max(1, slots), let index = ready.popFirst() {
                let run = runsLeft[index]
                let seconds = expected(run)
                if seconds == nil { untimed += 1 }
                ends.append((now + (seconds ?? 0), run.id))
            }
            guard let first = ends.indices.min(by: { (ends[$0].time, ends[$0].id) < (ends[$1].time, ends[$1].id) })
            else { break }
            let end = ends.remove(at: first)
            now = max(now, end.time)
            for index in dependents[end.id, default: []] {
                unmet[index] -= 1
                if unmet[index] == 0 { ready.insert(index) }
            }
        }
        return RemainingTime(seconds: now, runs: runsLeft.count, untimedRuns: untimed)
    }
}
