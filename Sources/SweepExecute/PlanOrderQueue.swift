/// Plan positions of ready runs, the earliest first: which run starts next. A binary heap, so
/// that thousands of runs becoming ready at once (the dependents of a pretraining run) cost
/// n log n rather than n² of sorted inserts. A position may be inserted twice; callers skip
/// runs that are no longer ready when they pop them.
struct PlanOrderQueue {
    private var heap: [Int] = []

    init<Positions: Sequence>(_ positions: Positions) where Positions.Element == Int {
        for position in positions { insert(position) }
    }

    var isEmpty: Bool { heap.isEmpty }

    mutating func insert(_ position: Int) {
        heap.append(position)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> Int? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        guard !heap.isEmpty else { return first }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left] < heap[smallest] { smallest = left }
            if right < heap.count, heap[right] < heap[smallest] { smallest = right }
            if smallest == parent { return first }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
