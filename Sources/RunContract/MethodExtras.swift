// Two method results that travel in metrics.json's `extra` under fixed key shapes and that
// `sweep report` draws: TGLoRA's task similarity (the heat map) and its task groups (the group
// blocks). The engine writes them and the report reads them through these, so the key shapes
// live in one place and a renamed key cannot make a figure silently disappear.

/// TGLoRA's task similarity between two tasks: `extra["similarity.<a>.<b>"]`, one entry per
/// unordered pair (a before b in the run's task order).
public struct TaskSimilarityEntry: Sendable, Equatable {
    public var a: String
    public var b: String
    public var value: Double

    public init(a: String, b: String, value: Double) { self.a = a; self.b = b; self.value = value }

    static let prefix = "similarity."

    /// The `extra` key of the pair.
    public var key: String { "\(Self.prefix)\(a).\(b)" }

    /// Every similarity entry of `extra`, in no particular order.
    public static func entries(in extra: [String: Double]) -> [TaskSimilarityEntry] {
        extra.compactMap { key, value in
            guard key.hasPrefix(prefix) else { return nil }
            let parts = key.dropFirst(prefix.count).split(separator: ".", maxSplits: 1).map(String.init)
            return parts.count == 2 ? TaskSimilarityEntry(a: parts[0], b: parts[1], value: value) : nil
        }
    }
}

/// TGLoRA's task groups: `extra["groups.stage<k>.<task>"]` = the index of the task's group in
/// backbone stage k (stages from 1, groups numbered in order of their first task).
public struct TaskGroupEntry: Sendable, Equatable {
    public var stage: Int
    public var task: String
    public var group: Int

    public init(stage: Int, task: String, group: Int) { self.stage = stage; self.task = task; self.group = group }

    static let prefix = "groups.stage"

    /// The `extra` key of the task's group in its stage.
    public var key: String { "\(Self.prefix)\(stage).\(task)" }

    /// Every group entry of `extra`: for each stage, each task's group.
    public static func stages(in extra: [String: Double]) -> [Int: [String: Int]] {
        var stages: [Int: [String: Int]] = [:]
        for (key, value) in extra where key.hasPrefix(prefix) {
            let parts = key.dropFirst(prefix.count).split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2, let stage = Int(parts[0]) else { continue }
            stages[stage, default: [:]][parts[1]] = Int(value)
        }
        return stages
    }
}
