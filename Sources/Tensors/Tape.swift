/// Reverse-mode differentiation: each op records a backward closure on its output
/// (when an input needs a gradient); `backward()` replays them in reverse
/// topological order. The graph is the tensors themselves: no global tape, so
/// independent graphs on different threads never meet.
public enum GradientRecording {
    @TaskLocal static var isEnabled = true

    /// Runs `body` without recording any history (evaluation, EMA updates, metrics).
    public static func disabled<Result>(_ body: () throws -> Result) rethrows -> Result {
        try $isEnabled.withValue(false, operation: body)
    }

    /// Whether ops currently record backward closures.
    public static var isRecording: Bool { isEnabled }
}

extension Tensor {
    /// Makes `self` the output of an op on `inputs`, differentiated by `backward`.
    /// Nothing is recorded if no input takes a gradient or recording is disabled, so
    /// frozen paths and evaluation cost no closures and no gradient buffers.
    @inline(__always)
    func record(_ inputs: Tensor..., backward: @escaping (Tensor) -> Void) {
        guard GradientRecording.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return }
        requiresGrad = true
        parents = inputs
        backwardFunction = backward
    }

    func record(inputs: [Tensor], backward: @escaping (Tensor) -> Void) {
        guard GradientRecording.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return }
        requiresGrad = true
        parents = inputs
        backwardFunction = backward
    }

    /// True for tensors produced by a recorded op (as opposed to leaves such as parameters).
    public var hasHistory: Bool { backwardFunction != nil }

    /// Back-propagates from this tensor. The seed gradient is 1 for every element
    /// (so for a scalar loss, d loss / d loss = 1) unless `seed` is given.
    /// Leaves keep their gradients, accumulated on top of what they held (call
    /// `zeroGrad()` between steps). Intermediate tensors drop their gradients (unless
    /// `retainIntermediateGradients`) and their history (unless `retainGraph`, which
    /// allows another backward through the same graph, e.g. one per task loss to
    /// compare per-task gradients of shared parameters).
    public func backward(seed: Tensor? = nil, retainGraph: Bool = false,
                         retainIntermediateGradients: Bool = false) {
        let order = topologicalOrder()
        let g = gradAllocatingIfNeeded()
        if let seed {
            precondition(seed.count == count, "seed shape \(seed.shape) for tensor \(shape)")
            for i in 0..<count { g[i] += seed.data[i] }
        } else {
            for i in 0..<count { g[i] += 1 }
        }
        for node in order.reversed() {
            guard let function = node.backwardFunction else { continue }
            if node.grad != nil { function(node) }
            if !retainGraph {
                node.backwardFunction = nil
                node.parents = []
            }
            if !retainIntermediateGradients { node.releaseGrad() }
        }
    }

    /// Nodes reachable from `self` through recorded ops, inputs before outputs.
    /// Iterative, because a deep network's graph would overflow a recursive walk.
    private func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for parent in node.parents where parent.requiresGrad && !visited.contains(ObjectIdentifier(parent)) {
                stack.append((parent, false))
            }
        }
        return order
    }
}
