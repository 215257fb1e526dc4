import Foundation
import RunContract
import SweepCore
import SweepExecute
import SweepLedger

/// What `sweep plan` shows before anything runs: the expanded grid, how its runs spread over
/// the axes, which are done, how the groups depend on each other, and how long the rest
/// should take judging by the runs this workspace has finished.
struct PlanOverview {
    struct AxisCount: Equatable {
        var axis: String
        /// Values in the order the grid first produces them, with how many runs use each.
        var values: [(value: String, runs: Int)]
        static func == (a: AxisCount, b: AxisCount) -> Bool {
            a.axis == b.axis && a.values.elementsEqual(b.values) { $0.value == $1.value && $0.runs == $1.runs }
        }
    }

    struct GroupDependency: Equatable {
        var group: String
        var runs: Int
        /// The groups its runs need, by the name the config uses ("pretrain" -> group "pretrain").
        var needs: [String]
        /// The engines its runs use, by name (nil: the manifest's `engine`), in the order its runs name them.
        var engines: [String?] = [nil]
    }

    struct Estimate: Equatable {
        /// Run time of the runs still to do, summed over runs.
        var seconds: Double
        /// Wall time on `slots` slots, the runs started in plan order as their dependencies end.
        var wallSeconds: Double
        var slots: Int
        /// Runs the estimate covers (runs of groups nothing has timed yet are left out).
        var runsEstimated: Int
        var runsToDo: Int
        /// How many finished runs the timing comes from.
        var timedRuns: Int
    }

    var plan: Plan
    var states: [RunState]
    var axes: [AxisCount]
    var groups: [GroupDependency]
    /// Seconds each run should take, when past runs of its group tell.
    var runSeconds: [Double?]
    var estimate: Estimate?

    init(plan: Plan, ledger: Ledger?) throws {
        let known = try ledger?.entries(plan.runs.map(\.id)) ?? [:]
        try self.init(plan: plan, statuses: known.mapValues(\.status), timings: ledger?.groupTimings() ?? [:])
    }

    /// - Parameter cores: what `sweep run`'s default slots are derived from.
    init(plan: Plan, statuses: [RunID: RunStatus], timings: [String: GroupTiming],
         cores: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.plan = plan
        states = plan.runs.map { RunState(statuses[$0.id]) }
        axes = Self.countAxes(plan.runs)
        groups = Self.dependencies(plan)
        runSeconds = plan.runs.map { GroupTiming.expectedSeconds(of: $0, timings: timings) }
        let toDo = plan.runs.indices.filter { states[$0] != .succeeded }
        let estimated = toDo.compactMap { runSeconds[$0] }
        if !timings.isEmpty {
            let budget = ResourceBudget(slots: plan.executor.slots, threadsPerRun: plan.executor.threadsPerRun,
                                        cores: cores, runs: toDo.count)
            var seconds: [RunID: Double?] = [:]
            var unique: [PlannedRun] = []
            for index in toDo where seconds[plan.runs[index].id] == nil {
                seconds[plan.runs[index].id] = runSeconds[index]
                unique.append(plan.runs[index])
            }
            let wall = RemainingTime.simulate(runsLeft: unique, running: [:], slots: budget.slots) { seconds[$0.id] ?? nil }
            estimate = Estimate(seconds: estimated.reduce(0, +), wallSeconds: wall.seconds, slots: budget.slots,
                                runsEstimated: estimated.count, runsToDo: toDo.count,
                                timedRuns: timings.values.reduce(0) { $0 + $1.runs })
        }
    }

    private static func countAxes(_ runs: [PlannedRun]) -> [AxisCount] {
        var order: [String] = []
        var values: [String: [String]] = [:]
        var counts: [String: [String: Int]] = [:]
        func count(_ axis: String, _ value: String) {
            if counts[axis] == nil { order.append(axis); counts[axis] = [:] }
            if counts[axis]![value] == nil { values[axis, default: []].append(value) }
            counts[axis]![value, default: 0] += 1
        }
        for run in runs {
            for (axis, value) in run.axes.sorted(by: { $0.key < $1.key }) { count(axis, value.description) }
        }
        // A group's labelled rows (a paper table's rows) and its seeds are not grid axes of the
        // manifest, but users ask "how many runs per row, how many seeds".
        if runs.contains(where: { $0.label != nil }), !runs.contains(where: { $0.axes["row"] != nil }) {
            for run in runs { if let label = run.label { count("row", label) } }
        }
        if !runs.contains(where: { $0.axes["seed"] != nil }) {
            for run in runs { count("seed", String(run.seed)) }
        }
        return order.map { axis in AxisCount(axis: axis, values: values[axis]!.map { ($0, counts[axis]![$0]!) }) }
    }

    private static func dependencies(_ plan: Plan) -> [GroupDependency] {
        var order: [String] = []
        var runs: [String: Int] = [:]
        var needs: [String: [String]] = [:]
        var engines: [String: [String?]] = [:]
        for run in plan.runs {
            if runs[run.group] == nil { order.append(run.group) }
            runs[run.group, default: 0] += 1
            if !engines[run.group, default: []].contains(run.engine) { engines[run.group, default: []].append(run.engine) }
            for dependency in run.needs.values.sorted() {
                let group = plan.run(dependency)?.group ?? "(outside this plan) \(dependency)"
                if !needs[run.group, default: []].contains(group) { needs[run.group, default: []].append(group) }
            }
        }
        return order.map { GroupDependency(group: $0, runs: runs[$0]!, needs: needs[$0] ?? [], engines: engines[$0] ?? [nil]) }
    }

    /// An engine's name in the overview: its `engines:` name, or "(default)" for the manifest's `engine`.
    static func engineName(_ name: String?) -> String { name ?? "(default)" }

    // MARK: rendering

    /// The overview as text; at most `listLimit` runs are listed one per line.
    func text(manifest: String, listLimit: Int?, profile: String? = nil) -> String {
        var out = "\(manifest): sweep \"\(plan.name)\"\(profile.map { ", profile \($0)" } ?? ""), "
            + "\(plan.runs.count) run\(plan.runs.count == 1 ? "" : "s")\n"
        out += "  states: \(stateCounts(states))\n"
        if !axes.isEmpty {
            out += "  axes:\n"
            var table = TextTable()
            for axis in axes {
                let shown = axis.values.prefix(12).map { "\($0.value) (\($0.runs))" }.joined(separator: ", ")
                let more = axis.values.count > 12 ? ", ... \(axis.values.count - 12) more" : ""
                table.append(["    \(axis.axis)", "\(axis.values.count) value\(axis.values.count == 1 ? "" : "s"):",
                              shown + more])
            }
            table.render(into: &out)
        }
        // Which engine runs what: one line when every run has the same engine, else one per engine
        // and a column naming each group's.
        let inUse = plan.enginesInUse
        if inUse.count <= 1 {
            out += "  engine: \(plan.engine(named: inUse.first ?? nil).runIdentity)\n"
        } else {
            out += "  engines:\n"
            var table = TextTable()
            for name in inUse { table.append(["    \(Self.engineName(name))", plan.engine(named: name).runIdentity]) }
            table.render(into: &out)
        }
        out += "  groups (in launch order):\n"
        var table = TextTable()
        for group in groups {
            var row = ["    \(group.group)", "\(group.runs) run\(group.runs == 1 ? "" : "s")",
                       group.needs.isEmpty ? "" : "needs " + group.needs.joined(separator: ", ")]
            if inUse.count > 1 { row.append("engine " + group.engines.map(Self.engineName).joined(separator: ", ")) }
            table.append(row)
        }
        table.render(into: &out)
        out += "  estimate: \(estimateText())\n"

        let limit = listLimit ?? plan.runs.count
        guard limit > 0 else { return out }
        out += "\n"
        var runs = TextTable(["RUN", "STATE", "GROUP", "LABEL", "SEED", "EST", "NEEDS", "AXES"])
        for (index, run) in plan.runs.prefix(limit).enumerated() {
            let needs = run.needs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.rawValue.prefix(8))" }
            let axes = run.axes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.description)" }
            runs.append([run.id.rawValue, states[index].rawValue, run.group, run.label ?? "-", String(run.seed),
                         runSeconds[index].map(ProgressText.duration) ?? "-", needs.isEmpty ? "-" : needs.joined(separator: " "),
                         axes.joined(separator: " ")])
        }
        runs.render(into: &out)
        if plan.runs.count > limit {
            out += "... \(plan.runs.count - limit) more runs (--all lists every run, --json gives them all)\n"
        }
        return out
    }

    private func estimateText() -> String {
        guard let estimate else { return "none yet: no run has finished in this workspace" }
        if estimate.runsToDo == 0 { return "nothing left to run" }
        var text = "\(ProgressText.duration(estimate.seconds)) of run time for \(estimate.runsEstimated) of the "
            + "\(estimate.runsToDo) runs to do (from \(estimate.timedRuns) finished run\(estimate.timedRuns == 1 ? "" : "s"))"
        if estimate.slots > 1 {
            text += ", about \(ProgressText.duration(estimate.wallSeconds)) on \(estimate.slots) slots"
        }
        if estimate.runsEstimated < estimate.runsToDo { text += "; groups with no finished run are not counted" }
        return text
    }

    func json(manifest: String, profile: String? = nil) throws -> String {
        struct Run: Encodable {
            var id: String, group: String, label: String?, seed: Int, state: RunState
            var needs: [String: String], axes: [String: JSONValue], config: JSONValue, estimated_seconds: Double?
            /// The engine's identity (part of the run's id).
            var engine: String
        }
        struct Axis: Encodable { var axis: String; var values: [String]; var runs: [Int] }
        struct Group: Encodable { var group: String; var runs: Int; var needs: [String]; var engines: [String] }
        struct Estimate: Encodable {
            var seconds: Double; var wall_seconds: Double; var slots: Int; var runs_estimated: Int; var runs_to_do: Int
            var timed_runs: Int
        }
        struct Document: Encodable {
            var manifest: String, sweep: String, profile: String?, runs: [Run], states: [String: Int], axes: [Axis], groups: [Group]
            var estimate: Estimate?
        }
        var stateCounts: [String: Int] = [:]
        for state in states { stateCounts[state.rawValue, default: 0] += 1 }
        let document = Document(
            manifest: manifest, sweep: plan.name, profile: profile,
            runs: plan.runs.enumerated().map { index, run in
                Run(id: run.id.rawValue, group: run.group, label: run.label, seed: run.seed, state: states[index],
                    needs: run.needs.mapValues(\.rawValue), axes: run.axes, config: run.config,
                    estimated_seconds: runSeconds[index], engine: plan.engine(of: run).runIdentity)
            },
            states: stateCounts,
            axes: axes.map { Axis(axis: $0.axis, values: $0.values.map(\.value), runs: $0.values.map(\.runs)) },
            groups: groups.map { Group(group: $0.group, runs: $0.runs, needs: $0.needs,
                                       engines: $0.engines.map { plan.engine(named: $0).runIdentity }) },
            estimate: estimate.map { Estimate(seconds: $0.seconds, wall_seconds: $0.wallSeconds, slots: $0.slots,
                                              runs_estimated: $0.runsEstimated,
                                              runs_to_do: $0.runsToDo, timed_runs: $0.timedRuns) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
    }
}
