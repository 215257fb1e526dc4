import Testing
import Tensors
@testable import Engine

@Suite struct TaskGroupingTests {
    func randomSimilarity(tasks: Int, generator: inout SeededRandom) -> TaskSimilarity {
        var matrix = Array(repeating: Array(repeating: 1.0, count: tasks), count: tasks)
        for t in 0..<tasks {
            for u in (t + 1)..<tasks {
                let s = generator.uniform(-1...1)
                matrix[t][u] = s
                matrix[u][t] = s
            }
        }
        return TaskSimilarity(tasks: (0..<tasks).map { "task\($0)" }, matrix: matrix, examples: 1)
    }

    func similarity(_ matrix: [[Double]]) -> TaskSimilarity {
        TaskSimilarity(tasks: matrix.indices.map { "task\($0)" }, matrix: matrix, examples: 1)
    }

    /// The best S_P per group count (key 0: any count), found over every labelling of T tasks
    /// with T labels (T^T of them): a different enumeration from the search's restricted
    /// growth strings.
    func bruteForceBest(_ similarity: TaskSimilarity) -> [Int: Double] {
        let t = similarity.taskCount
        var best: [Int: Double] = [:]
        var labels = [Int](repeating: 0, count: t)
        for code in 0..<(0..<t).reduce(1, { acc, _ in acc * t }) {
            var rest = code
            for k in 0..<t { labels[k] = rest % t; rest /= t }
            let partition = TaskPartition(Dictionary(grouping: 0..<t) { labels[$0] }.values.map(Array.init))
            let score = partition.score(similarity)
            for key in [0, partition.count] { best[key] = max(best[key] ?? -.infinity, score) }
        }
        return best
    }

    @Test(arguments: 1...6)
    func exactSearchAgreesWithBruteForce(tasks: Int) {
        var generator = SeededRandom(seed: UInt64(100 + tasks))
        for _ in 0..<(tasks < 6 ? 8 : 3) {
            let sim = randomSimilarity(tasks: tasks, generator: &generator)
            let best = bruteForceBest(sim)
            for groupCount in [nil] + (1...tasks).map(Optional.some) {
                let found = TaskGrouping.bestPartition(sim, groupCount: groupCount)
                if let groupCount { #expect(found.count == groupCount) }
                #expect(found.taskCount == tasks)
                #expect(Set(found.groups.flatMap { $0 }) == Set(0..<tasks))
                #expect(abs(found.score(sim) - best[groupCount ?? 0]!) < 1e-12)
            }
        }
    }

    @Test func scoreFollowsTheMeanSimilarityToTheRestOfTheGroup() {
        let sim = similarity([[1, 0.5, 0.1, -0.4],
                              [0.5, 1, 0.3, 0.2],
                              [0.1, 0.3, 1, 0.7],
                              [-0.4, 0.2, 0.7, 1]])
        #expect(TaskPartition.singletons(taskCount: 4).score(sim) == 0)
        // {0,1}: 0.5 + 0.5; {2,3}: 0.7 + 0.7
        #expect(abs(TaskPartition([[0, 1], [2, 3]]).score(sim) - 2.4) < 1e-12)
        // {0,1,2}: t0 (0.5+0.1)/2, t1 (0.5+0.3)/2, t2 (0.1+0.3)/2; {3} alone: 0
        #expect(abs(TaskPartition([[3], [2, 0, 1]]).score(sim) - 0.9) < 1e-12)
    }

    @Test func greedyMergingFollowsAlgorithmOne() {
        let sim = similarity([[1, 0.5, 0.1, -0.4],
                              [0.5, 1, 0.3, 0.2],
                              [0.1, 0.3, 1, 0.7],
                              [-0.4, 0.2, 0.7, 1]])
        let singletons = TaskPartition.singletons(taskCount: 4)
        let three = TaskGrouping.merge(singletons, downTo: 3, similarity: sim)
        #expect(three == TaskPartition([[0], [1], [2, 3]]))
        let two = TaskGrouping.merge(three, downTo: 2, similarity: sim)
        #expect(two == TaskPartition([[0, 1], [2, 3]]))
        #expect(TaskGrouping.merge(two, downTo: 1, similarity: sim) == .shared(taskCount: 4))
    }

    @Test func mergingProceedsWhenEveryMergeScoresBelowZero() {
        let sim = similarity([[1, -0.9, -0.2],
                              [-0.9, 1, -0.5],
                              [-0.2, -0.5, 1]])
        let merged = TaskGrouping.merge(.singletons(taskCount: 3), downTo: 2, similarity: sim)
        #expect(merged == TaskPartition([[0, 2], [1]]))
    }

    @Test(arguments: [[1, 2, 3, 4], [1, 1, 2, 4], [1, 2, 2, 4], [1, 1, 1, 1], [2, 2, 3, 3]])
    func groupsOnlySplitGoingDeeper(schedule: [Int]) throws {
        var generator = SeededRandom(seed: UInt64(schedule.reduce(0) { $0 * 10 + $1 }))
        for _ in 0..<10 {
            let sim = randomSimilarity(tasks: 4, generator: &generator)
            let stages = try TaskGrouping.stages(groupsPerStage: schedule, similarity: sim)
            #expect(stages.map(\.count) == schedule)
            for (shallow, deep) in zip(stages, stages.dropFirst()) {
                #expect(deep.refines(shallow), "\(shallow) -> \(deep) merges groups")
            }
            if schedule.last == 4 { #expect(stages.last == .singletons(taskCount: 4)) }
            else { #expect(stages.last == TaskGrouping.bestPartition(sim, groupCount: schedule.last!)) }
        }
    }

    @Test func refinementDetectsMerges() {
        let coarse = TaskPartition([[0, 1], [2, 3]])
        #expect(TaskPartition([[0], [1], [2, 3]]).refines(coarse))
        #expect(!TaskPartition([[0, 2], [1], [3]]).refines(coarse))
        #expect(!TaskPartition.shared(taskCount: 4).refines(coarse))
    }

    @Test func impossibleSchedulesAreRejected() {
        let sim = similarity([[1, 0], [0, 1]])
        #expect(throws: TaskGrouping.ScheduleError.self) { try TaskGrouping.stages(groupsPerStage: [2, 1], similarity: sim) }
        #expect(throws: TaskGrouping.ScheduleError.self) { try TaskGrouping.stages(groupsPerStage: [1, 3], similarity: sim) }
        #expect(throws: TaskGrouping.ScheduleError.self) { try TaskGrouping.stages(groupsPerStage: [], similarity: sim) }
    }

    @Test func defaultScheduleDropsOneGroupPerStageAwayFromTheDecoders() {
        #expect(TaskGrouping.defaultSchedule(taskCount: 4, stages: 4) == [1, 2, 3, 4])
        #expect(TaskGrouping.defaultSchedule(taskCount: 3, stages: 4) == [1, 1, 2, 3])
        #expect(TaskGrouping.defaultSchedule(taskCount: 6, stages: 4) == [3, 4, 5, 6])
    }

    @Test func groupRanksAreProportionalToGroupSize() {
        #expect(TaskGrouping.groupRanks(TaskPartition([[0, 1, 2], [3]]), combinedRank: 32) == [24, 8])
        #expect(TaskGrouping.groupRanks(.shared(taskCount: 4), combinedRank: 16) == [16])
        #expect(TaskGrouping.groupRanks(.singletons(taskCount: 4), combinedRank: 2) == [1, 1, 1, 1])
    }
}

@Suite struct TaskSimilarityTests {
    /// Eq. 2 as printed: the cosine of g / (|g| + |g'|) and g' / (|g| + |g'|).
    func printedSimilarity(_ g: [Float], _ h: [Float]) -> Double {
        func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let gd = g.map(Double.init), hd = h.map(Double.init)
        let scale = norm(gd) + norm(hd)
        let x = gd.map { $0 / scale }, y = hd.map { $0 / scale }
        return zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } / (norm(x) * norm(y))
    }

    @Test func meanOfExampleCosinesMatchesThePrintedFormula() {
        var generator = SeededRandom(seed: 5)
        let tasks = ["semseg", "parts", "sal", "normals"]
        var accumulator = TaskSimilarity.Accumulator(tasks: tasks)
        var examples: [[[Float]]] = []
        for _ in 0..<6 {
            let gradients = tasks.map { _ in generator.floats(17).map { $0 * Float(generator.uniform(0.1...10)) } }
            examples.append(gradients)
            accumulator.add(gradients: gradients)
        }
        let sim = accumulator.similarity
        #expect(sim.examples == 6)
        for t in tasks.indices {
            #expect(sim[t, t] == 1)
            for u in tasks.indices where u != t {
                let expected = examples.map { printedSimilarity($0[t], $0[u]) }.reduce(0, +) / 6
                #expect(abs(sim[t, u] - expected) < 1e-9)
                #expect(sim[t, u] == sim[u, t])
            }
        }
    }

    @Test func alignedAndOpposedGradientsGiveOneAndMinusOne() {
        var accumulator = TaskSimilarity.Accumulator(tasks: ["a", "b", "c", "d"])
        accumulator.add(gradients: [[1, 2, 3], [2, 4, 6], [-1, -2, -3], [0, 0, 0]])
        let sim = accumulator.similarity
        #expect(abs(sim[0, 1] - 1) < 1e-12)
        #expect(abs(sim[0, 2] + 1) < 1e-12)
        #expect(sim[0, 3] == 0)
    }

    /// TGLoRA eq. 1 draws each task's examples from its own data: an image with no pixel of a
    /// task labelled (no person: no human parts) is no example of it, and must not pull that
    /// task's similarities towards 0.
    @Test func imagesWithoutATasksLabelsLeaveItsPairsOut() {
        var accumulator = TaskSimilarity.Accumulator(tasks: ["semseg", "human_parts", "normals"])
        accumulator.add(gradients: [[1, 0], [1, 1], [0, 1]], labelled: [true, true, true])
        accumulator.add(gradients: [[1, 0], [0, 0], [1, 0]], labelled: [true, false, true])
        let sim = accumulator.similarity
        #expect(abs(sim[0, 1] - 0.5.squareRoot()) < 1e-12)     // the first image only
        #expect(abs(sim[1, 2] - 0.5.squareRoot()) < 1e-12)
        #expect(abs(sim[0, 2] - 0.5) < 1e-12)                  // both images: (0 + 1) / 2
        #expect(sim.examples == 2 && sim.pairExamples?[0][1] == 1 && sim.pairExamples?[0][2] == 2)
        #expect(sim[1, 1] == 1)
    }
}
