import Foundation
import SweepCore
import SweepExecute
import SweepLedger

/// `sweep run --dry-run`: what the run would do now with these options, judged from the
/// ledger, without claiming or starting anything.
struct LaunchPreview {
    enum Action: Equatable {
        case launch, resume, retry, alreadyDone, runningElsewhere, budgetSpent
        /// Launches once the run it needs (which launches too) has succeeded.
        case after(String)
        case skip(String)

        var text: String {
            switch self {
            case .launch: return "launch"
            case .resume: return "resume (interrupted)"
            case .retry: return "retry (failed before)"
            case .alreadyDone: return "done"
            case .runningElsewhere: return "running in another sweep process"
            case .budgetSpent: return "failed, retry budget spent (--retry-failed)"
            case .after(let what): return "launch after \(what) succeeds"
            case .skip(let why): return "skip: \(why)"
            }
        }

        var launches: Bool {
            if case .after = self { return true }
            return self == .launch || self == .resume || self == .retry
        }

        var waits: Bool { if case .after = self { return true } else { return false } }
    }

    var plan: Plan
    var actions: [(run: PlannedRun, action: Action)] = []
    var budget: ResourceBudget

    init(plan: Plan, ledger: Ledger?, options: RunOptions) throws {
        self.plan = plan
        var seen = Set<RunID>()
        let runs = plan.runs.filter { seen.insert($0.id).inserted }
        let outside = Set(runs.flatMap(\.needs.values)).subtracting(seen)
        let entries = try ledger?.entries(runs.map(\.id) + outside.sorted()) ?? [:]
        var decided: [RunID: Action] = [:]
        for run in runs {
            // Plan order puts dependencies first, so their actions are known here.
            let blocker = run.needs.sorted { $0.key < $1.key }.first { _, dependency in
                if let action = decided[dependency] {
                    if case .skip = action { return true }
                    return action == .budgetSpent
                }
                return !seen.contains(dependency) && entries[dependency]?.status != .succeeded
            }
            // A dependency this sweep launches first, or another process runs: the run waits for it.
            let pending = run.needs.sorted { $0.key < $1.key }.first { _, dependency in
                decided[dependency].map { $0.launches || $0 == .runningElsewhere } ?? false
            }
            let entry = entries[run.id]
            var action: Action
            if let (name, dependency) = blocker {
                action = .skip("needs `\(name)` (run \(dependency.rawValue.prefix(8))), which will not succeed")
            } else {
                switch entry?.status {
                case .running?: action = .runningElsewhere
                case _ where options.rerun: action = .launch
                case .succeeded?: action = .alreadyDone
                case .interrupted?: action = .resume
                case .failed?:
                    action = options.retryFailed || entry!.failures <= options.retries ? .retry : .budgetSpent
                case nil, .planned?, .skipped?: action = .launch
                }
            }
            if action.launches, let (name, dependency) = pending {
                action = .after("`\(name)` (run \(dependency.rawValue.prefix(8)))")
            }
            decided[run.id] = action
            actions.append((run, action))
        }
        budget = ResourceBudget(slots: options.slots, threadsPerRun: options.threadsPerRun, cores: options.cores,
                                runs: actions.filter(\.action.launches).count)
    }

    func text() -> String {
        let launching = actions.filter(\.action.launches)
        var out = "dry run of sweep \"\(plan.name)\": nothing is started\n"
        out += "budget: \(budget)\(budget.isOversubscribed ? " (more threads than cores, as asked)" : "")\n"
        var counts: [String: Int] = [:]
        var order: [String] = []
        for (_, action) in actions where !action.launches {
            let key: String = if case .skip = action { "skip" } else { action.text }
            if counts[key] == nil { order.append(key) }
            counts[key, default: 0] += 1
        }
        let waiting = launching.filter(\.action.waits).count
        out += "would launch \(launching.count) of \(actions.count) runs"
        if !launching.isEmpty {
            out += ": \(launching.count - waiting) at once"
            for kind in [Action.resume, .retry] {
                let count = launching.filter { $0.action == kind }.count
                if count > 0 { out += " (\(count) \(kind.text))" }
            }
            if waiting > 0 { out += ", \(waiting) once the runs they need have succeeded" }
        }
        if !order.isEmpty { out += "; " + order.map { "\(counts[$0]!) \($0)" }.joined(separator: ", ") }
        out += "\n"
        let listed = actions.filter { $0.action != .alreadyDone }
        guard !listed.isEmpty else { return out }
        out += "\n"
        var table = TextTable(["RUN", "GROUP", "LABEL", "SEED", "ACTION"])
        for (run, action) in listed {
            table.append([run.id.rawValue, run.group, run.label ?? "-", String(run.seed), action.text])
        }
        table.render(into: &out)
        return out
    }
}
