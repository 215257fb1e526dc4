/// A partition of the tasks 0..<T into groups, in a canonical form: each group sorted, groups
/// ordered by their first task. TGLoRA gives every group one low-rank module and one stream.
public struct TaskPartition: Sendable, Hashable, Codable, CustomStringConvertible {
    public let groups: [[Int]]

    public init(_ groups: [[Int]]) {
        self.groups = groups.filter { !$0.isEmpty }.map { $0.sorted() }.sorted { $0[0] < $1[0] }
    }

    /// All tasks in one group.
    public static func shared(taskCount: Int) -> TaskPartition { TaskPartition([Array(0..<taskCount)]) }
    /// One group per task.
    public static func singletons(taskCount: Int) -> TaskPartition { TaskPartition((0..<taskCount).map { [$0] }) }

    public var count: Int { groups.count }
    public var taskCount: Int { groups.reduce(0) { $0 + $1.count } }

    /// The group holding `task`.
    public func group(of task: Int) -> Int {
        groups.firstIndex { $0.contains(task) }!
    }

    /// The partition with tasks `a` and `b` in each other's groups (the same where they share one).
    public func swapping(_ a: Int, _ b: Int) -> TaskPartition {
        TaskPartition(groups.map { group in group.map { $0 == a ? b : $0 == b ? a : $0 } })
    }

    /// True when every group of `self` lies inside one group of `coarser`: going from `coarser`
    /// to `self` groups only split, never merge.
    public func refines(_ coarser: TaskPartition) -> Bool {
        groups.allSatisfy { group in coarser.groups.contains { Set(group).isSubset(of: $0) } }
    }

    /// S_P (eq. 6): sum over groups and their tasks of S_t,pi, the mean similarity of t to the
    /// rest of its group (eq. 5), 0 for a task alone in its group.
    public func score(_ similarity: TaskSimilarity) -> Double {
        var total = 0.0
        for group in groups where group.count > 1 {
            for t in group {
                var toOthers = 0.0
                for u in group where u != t { toOthers += similarity[t, u] }
                total += toOthers / Double(group.count - 1)
            }
        }
        return total
    }

    public var description: String {
        groups.map { "{" + $0.map(String.init).joined(separator: ",") + "}" }.joined(separator: " ")
    }
}

/// How TGLoRA groups the tasks stage by stage: the last stage by an exact search over partitions,
/// earlier stages by the paper's greedy merging (Algorithm 1), so groups only split going deeper.
public enum TaskGrouping {
    /// The exact search enumerates every set partition; Bell(12) is already 4.2 million.
    public static let largestExactSearch = 12

    public struct ScheduleError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// The partition with the highest S_P among those with exactly `groupCount` groups (any
    /// count when nil). Ties keep the first partition in enumeration order (restricted growth
    /// strings: task t joins an existing group or opens the next one).
    public static func bestPartition(_ similarity: TaskSimilarity, groupCount: Int? = nil) -> TaskPartition {
        let taskCount = similarity.taskCount
        precondition(taskCount >= 1 && taskCount <= largestExactSearch,
                     "exact partition search handles 1...\(largestExactSearch) tasks")
        if let groupCount { precondition((1...taskCount).contains(groupCount), "group count out of range") }
        var best: (score: Double, partition: TaskPartition)?
        var groups: [[Int]] = []

        func place(_ task: Int) {
            if task == taskCount {
                if let groupCount, groups.count != groupCount { return }
                let partition = TaskPartition(groups)
                let score = partition.score(similarity)
                if best == nil || score > best!.score { best = (score, partition) }
                return
            }
            // Too few tasks left to open the groups still missing.
            if let groupCount, groups.count + (taskCount - task) < groupCount { return }
            for g in groups.indices {
                groups[g].append(task)
                place(task + 1)
                groups[g].removeLast()
            }
            if groupCount.map({ groups.count < $0 }) ?? true {
                groups.append([task])
                place(task + 1)
                groups.removeLast()
            }
        }
        place(0)
        return best!.partition
    }

    /// Algorithm 1: merges the pair of groups whose union scores best, until `groupCount`
    /// groups remain. Two slips of the printed algorithm are read as intended: each round
    /// merges within the current partition Q (line 7 prints P), and the best score starts at
    /// minus infinity rather than 0 so that a round where every merge scores below 0 still
    /// merges. Ties keep the first pair (i < j in group order).
    public static func merge(_ partition: TaskPartition, downTo groupCount: Int,
                             similarity: TaskSimilarity) -> TaskPartition {
        precondition(groupCount >= 1 && groupCount <= partition.count, "can only merge down to 1...\(partition.count) groups")
        var current = partition
        while current.count > groupCount {
            var best: (score: Double, partition: TaskPartition)?
            for i in current.groups.indices {
                for j in (i + 1)..<current.groups.count {
                    var groups = current.groups
                    groups[i] += groups[j]
                    groups.remove(at: j)
                    let candidate = TaskPartition(groups)
                    let score = candidate.score(similarity)
                    if best == nil || score > best!.score { best = (score, candidate) }
                }
            }
            current = best!.partition
        }
        return current
    }

    /// The partition of every stage, first to last, for `groupsPerStage` groups per stage (e.g.
    /// 1-2-3-4): the last stage by exact search (singletons when it has one group per task),
    /// each earlier stage the next one's groups kept or greedily merged.
    public static func stages(groupsPerStage: [Int], similarity: TaskSimilarity) throws -> [TaskPartition] {
        let taskCount = similarity.taskCount
        let written = groupsPerStage.map(String.init).joined(separator: "-")
        guard let last = groupsPerStage.last else {
            throw ScheduleError(description: "empty group schedule; expected one group count per stage, e.g. 1-2-3-\(taskCount)")
        }
        if let bad = groupsPerStage.first(where: { !(1...taskCount).contains($0) }) {
            throw ScheduleError(description: "group schedule \(written): \(bad) groups is impossible with \(taskCount) tasks; expected counts in 1...\(taskCount)")
        }
        for (shallow, deep) in zip(groupsPerStage, groupsPerStage.dropFirst()) where shallow > deep {
            throw ScheduleError(description: "group schedule \(written): groups may only split going deeper, but \(shallow) groups are followed by \(deep)")
        }
        if last != taskCount && taskCount > largestExactSearch {
            throw ScheduleError(description: "group schedule \(written): exact search of the last stage handles at most \(largestExactSearch) tasks")
        }
        var partitions = [last == taskCount ? TaskPartition.singletons(taskCount: taskCount)
                                            : bestPartition(similarity, groupCount: last)]
        for count in groupsPerStage.dropLast().reversed() {
            partitions.insert(merge(partitions[0], downTo: count, similarity: similarity), at: 0)
        }
        return partitions
    }

    /// The paper's default: last stage one group per task, one group fewer per stage moving away
    /// from the decoders, never fewer than 1 (4 tasks, 4 stages: 1-2-3-4; 3 tasks: 1-1-2-3).
    public static func defaultSchedule(taskCount: Int, stages: Int) -> [Int] {
        (0..<stages).map { stage in max(1, taskCount - (stages - 1 - stage)) }
    }

    /// Rank of each group's module from the layer's combined rank r, in proportion to the
    /// group's size (r x |pi| / T, rounded to the nearest integer, at least 1).
    public static func groupRanks(_ partition: TaskPartition, combinedRank: Int) -> [Int] {
        let taskCount = Double(partition.taskCount)
        return partition.groups.map { max(1, Int((Double(combinedRank * $0.count) / taskCount).rounded())) }
    }
}
