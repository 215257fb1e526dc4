import Foundation
import SweepCore

/// How many runs one array task runs, one after the other. Slurm spends about the same on every
/// task it schedules (half a second on the test cluster, often more on a busy one), so a grid of
/// runs that take seconds is dominated by scheduling unless several share a task.
///
/// Explicit: `executor.runs_per_task`. Otherwise derived from the runs' expected wall time
/// (`GroupTiming.expectedSeconds`, what `sweep plan` estimates from the ledger's history):
/// enough runs to keep a task busy for `targetTaskSeconds`, but at most half the task's time
/// limit, and never so many that fewer tasks are left than the cluster can run at once. Runs
/// with no history are not packed (a training run may take hours). Either way, when the tasks
/// would not fit under MaxJobCount or the user's submit limit, a derived packing grows to fit
/// and an explicit one is an error.
struct TaskPacking: Equatable {
    var runsPerTask: Int
    /// Why this many: "executor.runs_per_task", "about 0.2 s each (history)", ...
    var why: String

    /// How long a packed task should run at least: long enough that Slurm's per-task cost
    /// (seconds to a minute on a busy cluster) is a few percent.
    static let targetTaskSeconds = 600.0

    /// The packing of `levels` (the runs of each dependency level that go out now).
    /// - Parameters:
    ///   - expected: each run's expected wall time in seconds, nil when its group has no history.
    ///   - timeLimit: the task's Slurm time limit in seconds, when known.
    ///   - width: how many tasks can run at once (max_concurrent, else the partition's CPUs / cpus_per_task).
    ///   - capacity: array tasks Slurm accepts now, and the limit that says so.
    static func choose(levels: [[PlannedRun]], explicit: Int?, expected: (PlannedRun) -> Double?, timeLimit: Double?,
                       width: Int?, capacity: (tasks: Int, why: String)?) throws(SlurmError) -> TaskPacking {
        let runs = levels.flatMap { $0 }
        var packing: TaskPacking
        if let explicit {
            packing = TaskPacking(runsPerTask: explicit, why: "executor.runs_per_task")
        } else {
            packing = derived(runs, expected: expected, timeLimit: timeLimit, width: width)
        }
        guard let capacity, tasks(levels, packing.runsPerTask) > capacity.tasks else { return packing }
        let needed = tasks(levels, packing.runsPerTask)
        let largest = levels.map(\.count).max() ?? 1
        // The fewest runs per task that fit, if any does: one task per level is the least there is.
        let fitting = (packing.runsPerTask ... max(packing.runsPerTask, largest)).first { tasks(levels, $0) <= capacity.tasks }
        guard explicit == nil, let fitting else {
            var advice = "wait for jobs to leave the queue"
            if let fitting { advice = "set executor.runs_per_task to \(fitting) or more (or remove it to let sweep pack), or " + advice }
            throw SlurmError.doesNotFit("\(runs.count) runs need \(needed) array tasks at \(packing.runsPerTask) run(s) per task, "
                                        + "but Slurm accepts \(capacity.tasks) more: \(capacity.why); \(advice)")
        }
        return TaskPacking(runsPerTask: fitting, why: "to fit \(capacity.tasks) array tasks (\(capacity.why))")
    }

    private static func derived(_ runs: [PlannedRun], expected: (PlannedRun) -> Double?, timeLimit: Double?,
                                width: Int?) -> TaskPacking {
        let seconds = runs.map(expected)
        guard !runs.isEmpty, seconds.allSatisfy({ $0 != nil }) else {
            return TaskPacking(runsPerTask: 1, why: "not every run has a past run of its group to time it by")
        }
        let mean = max(0.001, seconds.compactMap { $0 }.reduce(0, +) / Double(runs.count))
        var per = max(1, Int(targetTaskSeconds / mean))
        if let timeLimit { per = min(per, max(1, Int(timeLimit / 2 / mean))) }
        if let width, width > 0 {
            per = min(per, max(1, (runs.count + width - 1) / width))
            // As many tasks as fill every slot a whole number of times: 12,000 runs at 5,414 per
            // task on 2 slots would leave the third task running alone.
            let tasks = (runs.count + per - 1) / per
            let balanced = (tasks + width - 1) / width * width
            per = (runs.count + balanced - 1) / balanced
        }
        // Sub-10 s paces keep two decimals; longer ones print as every listing does (DurationText).
        let pace = mean < 0.01 ? "less than 0.01s" : mean < 10 ? String(format: "about %.2fs", mean) : "about " + DurationText.of(mean)
        return TaskPacking(runsPerTask: per, why: "runs take \(pace) each")
    }

    /// Array tasks `levels` need at `perTask` runs each (a task never mixes levels).
    static func tasks(_ levels: [[PlannedRun]], _ perTask: Int) -> Int {
        levels.reduce(0) { $0 + ($1.count + perTask - 1) / perTask }
    }

    /// `runs` in order, `perTask` to a task, tasks `maxArraySize` to an array (an array's
    /// indices are 0 ..< tasks, so MaxArraySize tasks at most).
    static func arrays(_ runs: [PlannedRun], perTask: Int, maxArraySize: Int?) -> [[[PlannedRun]]] {
        let tasks = chunks(runs, of: max(1, perTask))
        return chunks(tasks, of: max(1, maxArraySize ?? tasks.count))
    }

    private static func chunks<T>(_ items: [T], of size: Int) -> [[T]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0 ..< min($0 + size, items.count)]) }
    }

    /// A Slurm time limit in seconds: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS;
    /// nil for UNLIMITED and anything else.
    static func seconds(ofSlurmTime text: String) -> Double? {
        var days = 0
        var rest = Substring(text)
        if let dash = rest.firstIndex(of: "-") {
            guard let value = Int(rest[..<dash]) else { return nil }
            days = value
            rest = rest[rest.index(after: dash)...]
        }
        let parts = rest.split(separator: ":").map { Int($0) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        let numbers = parts.compactMap { $0 }
        let seconds: Int
        switch (text.contains("-"), numbers.count) {
        case (false, 1): seconds = numbers[0] * 60
        case (false, 2): seconds = numbers[0] * 60 + numbers[1]
        case (_, 3): seconds = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
        case (true, 1): seconds = numbers[0] * 3600
        case (true, 2): seconds = numbers[0] * 3600 + numbers[1] * 60
        default: return nil
        }
        return Double(days * 86400 + seconds)
    }
}
