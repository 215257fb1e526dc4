import SweepCore

/// The words of a skip: ``needs `pretrain` (run 3f2a…), which failed: exit code 1``. Every
/// executor says it the same way, so `sweep status` reads alike whichever ran the grid.
enum SkipReason {
    /// "needs `NAME` (run ID)", NAME being what the dependent calls that dependency.
    static func needs(_ dependent: PlannedRun?, on dependency: RunID) -> String {
        let name = dependent?.needs.first { $0.value == dependency }?.key ?? "a dependency"
        return "needs `\(name)` (run \(dependency))"
    }

    /// Why a failed run failed, in one line.
    static func failure(_ record: RunRecord) -> String {
        record.reason ?? record.exitCode.map { "exit code \($0)" } ?? "failed"
    }
}
