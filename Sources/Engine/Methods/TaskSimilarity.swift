import Foundation

/// TGLoRA's task similarity (eq. 1-3 of the paper): the mean over N examples of the cosine
/// similarity between two tasks' gradients of their losses with respect to the shared parameters.
///
/// Eq. 2 divides both gradients by |g| + |g'| before the cosine; a common positive factor does
/// not change a cosine, so the plain cosine is computed. Eq. 1 draws x ~ D_t and x' ~ D_t': an
/// image with no pixel labelled for a task is not an example of that task, so a pair averages
/// over the images labelled for both (its own N, in `pairExamples`). A zero gradient of a
/// labelled example has no direction and contributes similarity 0.
public struct TaskSimilarity: Sendable, Equatable, Codable {
    public let tasks: [String]
    /// sim(t, t'), symmetric, 1 on the diagonal.
    public let matrix: [[Double]]
    /// The images measured.
    public let examples: Int
    /// N of each pair: the images labelled for both tasks (nil in files that predate it).
    public let pairExamples: [[Int]]?

    public init(tasks: [String], matrix: [[Double]], examples: Int, pairExamples: [[Int]]? = nil) {
        precondition(matrix.count == tasks.count && matrix.allSatisfy { $0.count == tasks.count },
                     "the similarity matrix must be tasks x tasks")
        self.tasks = tasks
        self.matrix = matrix
        self.examples = examples
        self.pairExamples = pairExamples
    }

    public subscript(t: Int, u: Int) -> Double { matrix[t][u] }
    public var taskCount: Int { tasks.count }

    /// Accumulates example-level similarities one example at a time, so the N x T gradient
    /// vectors never have to be held at once.
    public struct Accumulator: Sendable {
        public let tasks: [String]
        private var sums: [[Double]]
        /// How many examples each pair has summed.
        private var pairs: [[Int]]
        public private(set) var examples = 0

        public init(tasks: [String]) {
            self.tasks = tasks
            sums = Array(repeating: Array(repeating: 0, count: tasks.count), count: tasks.count)
            pairs = Array(repeating: Array(repeating: 0, count: tasks.count), count: tasks.count)
        }

        /// `gradients[t]`: the flattened gradient of task t's loss on example i (for task t the
        /// i-th example of its own data; with shared images, the same image). `labelled[t]`:
        /// whether the image is an example of task t at all (some pixel labelled); a pair counts
        /// the image only when it is one of both tasks.
        public mutating func add(gradients: [[Float]], labelled: [Bool]? = nil) {
            precondition(gradients.count == tasks.count, "one gradient per task")
            let labelled = labelled ?? Array(repeating: true, count: tasks.count)
            precondition(labelled.count == tasks.count, "one label flag per task")
            let norms = gradients.map { g in g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
            for t in tasks.indices where labelled[t] {
                sums[t][t] += 1
                pairs[t][t] += 1
                for u in (t + 1)..<tasks.count where labelled[u] {
                    precondition(gradients[t].count == gradients[u].count, "gradients of different sizes")
                    let cosine = cosineSimilarity(gradients[t], gradients[u], norms[t], norms[u])
                    sums[t][u] += cosine
                    sums[u][t] += cosine
                    pairs[t][u] += 1
                    pairs[u][t] += 1
                }
            }
            examples += 1
        }

        /// Each pair's mean over its examples; a pair that never shared a labelled image has no
        /// measured affinity and gets 0 (the diagonal stays 1).
        public var similarity: TaskSimilarity {
            precondition(examples > 0, "no examples accumulated")
            let matrix = tasks.indices.map { t in
                tasks.indices.map { u in pairs[t][u] > 0 ? sums[t][u] / Double(pairs[t][u]) : (t == u ? 1 : 0) }
            }
            return TaskSimilarity(tasks: tasks, matrix: matrix, examples: examples, pairExamples: pairs)
        }
    }
}

private func cosineSimilarity(_ g: [Float], _ h: [Float], _ gNorm: Double, _ hNorm: Double) -> Double {
    guard gNorm > 0, hNorm > 0 else { return 0 }
    var dot = 0.0
    for k in g.indices { dot += Double(g[k]) * Double(h[k]) }
    return dot / (gNorm * hNorm)
}

extension TaskSimilarity {
    /// The artifact of a task_similarity run, in its run directory.
    public static let fileName = "similarity.json"

    /// No affinity between distinct tasks: for group schedules that do not depend on it.
    public static func unrelated(tasks: [String]) -> TaskSimilarity {
        TaskSimilarity(tasks: tasks, matrix: tasks.indices.map { t in tasks.indices.map { $0 == t ? 1 : 0 } }, examples: 0)
    }

    public struct FileError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads a similarity file and keeps the rows and columns of `tasks`, in that order.
    public static func read(from path: String, tasks: [String]) throws -> TaskSimilarity {
        let stored: TaskSimilarity
        do {
            stored = try JSONDecoder().decode(TaskSimilarity.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw FileError(description: "\(path) is not the similarity.json of a task_similarity run "
                            + "(expected {\"tasks\": [...], \"matrix\": [[...]], \"examples\": N}): \(error)")
        }
        let n = stored.tasks.count
        guard stored.matrix.count == n, stored.matrix.allSatisfy({ $0.count == n }) else {
            throw FileError(description: "\(path): the matrix must be \(n) x \(n), one row and column per task")
        }
        let rows = try tasks.map { task in
            guard let row = stored.tasks.firstIndex(of: task) else {
                throw FileError(description: "\(path) has no similarities of task \(task); it covers "
                                + stored.tasks.joined(separator: ", "))
            }
            return row
        }
        return TaskSimilarity(tasks: tasks, matrix: rows.map { r in rows.map { stored.matrix[r][$0] } },
                              examples: stored.examples)
    }

    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: url, options: .atomic)
    }
}
