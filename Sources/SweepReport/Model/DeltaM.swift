import RunContract

/// Δm (%) = 100 · (1/T) · Σ_t (-1)^{l_t} (M_t − M_ref,t) / M_ref,t, with l_t = 1 where lower is
/// better (../shared/METHODS.md). T is the number of tasks the measured configuration reports.
public enum DeltaM {
    /// nil when a task has no reference, a reference is zero, or there are no tasks: leaving a
    /// task out would silently change T and make the value incomparable with the other rows.
    public static func percent(_ tasks: [String: TaskMetric], reference: [String: Double]) -> Double? {
        guard !tasks.isEmpty else { return nil }
        var sum = 0.0
        // Sorted: dictionary order changes between processes, and so would the rounding of the sum.
        for name in tasks.keys.sorted() {
            let metric = tasks[name]!
            guard let base = reference[name], base != 0 else { return nil }
            let relative = (metric.value - base) / base
            sum += metric.direction == .lower ? -relative : relative
        }
        return 100 * sum / Double(tasks.count)
    }

    /// The reference value of each task: the mean over the reference runs that report it.
    public static func reference(from runs: [RunMetrics]) -> [String: Double] {
        var values: [String: [Double]] = [:]
        for run in runs {
            for (name, metric) in run.tasks { values[name, default: []].append(metric.value) }
        }
        return values.mapValues { $0.reduce(0, +) / Double($0.count) }
    }
}
