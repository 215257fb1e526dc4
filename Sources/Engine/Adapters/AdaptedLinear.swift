import CBLAS

/// The frozen pretrained linear an adapter wraps: y = W x + b, W outputs x inputs. It has no
/// gradient buffers; it only turns dL/d(W x) into dL/dx.
public struct FrozenLinear: Sendable {
    public let inputs: Int
    public let outputs: Int
    public let weight: [Float]
    public let bias: [Float]?

    public init(inputs: Int, outputs: Int, weight: [Float], bias: [Float]?) {
        precondition(weight.count == outputs * inputs, "weight must be outputs x inputs")
        precondition(bias.map { $0.count == outputs } ?? true, "bias must have one value per output")
        self.inputs = inputs
        self.outputs = outputs
        self.weight = weight
        self.bias = bias
    }

    /// W x (no bias) for rows x inputs values of x.
    public func product(_ x: UnsafePointer<Float>, rows: Int) -> [Float] {
        var z = [Float](repeating: 0, count: rows * outputs)
        weight.withUnsafeBufferPointer { w in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inputs),
                        1, x, Int32(inputs), w.baseAddress, Int32(inputs), 0, &z, Int32(outputs))
        }
        return z
    }

    /// dx += dz W.
    public func accumulateInputGradient(_ dz: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(inputs), Int32(outputs),
                        1, dz, Int32(outputs), w.baseAddress, Int32(inputs), 1, dx, Int32(inputs))
        }
    }
}

/// A frozen linear with one LoRA or DoRA module: y = adapter(W x, x).
public final class AdaptedLinear {
    public let frozen: FrozenLinear
    public let module: LowRankModule

    public init(frozen: FrozenLinear, module: LowRankModule) {
        precondition(module.inputs == frozen.inputs && module.outputs == frozen.outputs,
                     "the module must match the frozen layer's shape")
        self.frozen = frozen
        self.module = module
    }

    public struct Pass {
        public let module: LowRankModule.Pass
    }

    public func forward(_ x: [Float], rows: Int, active: Int) -> (output: [Float], pass: Pass) {
        let z = frozen.product(x, rows: rows)
        var y = [Float](repeating: 0, count: rows * frozen.outputs)
        let pass = frozen.weight.withUnsafeBufferPointer { w in
            frozen.bias.withOptionalPointer { bias in
                module.forward(frozenProduct: z, input: x, rows: rows, weight: w.baseAddress!, bias: bias,
                               active: active, output: &y)
            }
        }
        return (y, Pass(module: pass))
    }

    /// Accumulates the module's gradients and returns dL/dx.
    public func backward(_ pass: Pass, input x: [Float], outputGradient dy: [Float]) -> [Float] {
        let rows = pass.module.rows
        var dz = [Float](repeating: 0, count: rows * frozen.outputs)
        var dx = [Float](repeating: 0, count: rows * frozen.inputs)
        module.backward(pass.module, input: x, outputGradient: dy, frozenProductGradient: &dz, inputGradient: &dx)
        frozen.accumulateInputGradient(dz, rows: rows, into: &dx)
        return dx
    }
}

/// MTLoRA's layer in 'matrix' mode: a shared module on the shared stream and, in the last block
/// of a stage, one module per task whose frozen path sees the shared input:
///   y_shared = adapter_shared(W x_shared, x_shared)
///   y_t      = adapter_t(W x_shared, x_t)          (x_t = x_shared where no task stream exists yet)
public final class TaskStreamLinear {
    public let frozen: FrozenLinear
    public let shared: LowRankModule?
    public let tasks: [LowRankModule]

    public init(frozen: FrozenLinear, shared: LowRankModule?, tasks: [LowRankModule]) {
        for module in (shared.map { [$0] } ?? []) + tasks {
            precondition(module.inputs == frozen.inputs && module.outputs == frozen.outputs,
                         "every module must match the frozen layer's shape")
        }
        self.frozen = frozen
        self.shared = shared
        self.tasks = tasks
    }

    public struct Pass {
        public let rows: Int
        let shared: LowRankModule.Pass?
        let tasks: [LowRankModule.Pass]
        let taskInputsGiven: Bool
    }

    /// `taskInputs` nil: every task module reads the shared input (the first task-specific layer
    /// of a block). `active` holds the prefix of the shared module then of each task module.
    public func forward(shared x: [Float], taskInputs: [[Float]]?, rows: Int, active: [Int])
        -> (shared: [Float], tasks: [[Float]], pass: Pass)
    {
        precondition(active.count == 1 + tasks.count, "one active rank for the shared module and one per task")
        precondition(taskInputs.map { $0.count == tasks.count } ?? true, "one input per task")
        let z = frozen.product(x, rows: rows)
        let count = rows * frozen.outputs
        return frozen.weight.withUnsafeBufferPointer { w in
            frozen.bias.withOptionalPointer { bias in
                var ySharedStream = [Float](repeating: 0, count: count)
                var sharedPass: LowRankModule.Pass?
                if let shared {
                    sharedPass = shared.forward(frozenProduct: z, input: x, rows: rows, weight: w.baseAddress!,
                                                bias: bias, active: active[0], output: &ySharedStream)
                } else {
                    for k in 0..<count { ySharedStream[k] = z[k] + (bias?[k % frozen.outputs] ?? 0) }
                }
                var taskOutputs: [[Float]] = []
                var taskPasses: [LowRankModule.Pass] = []
                for (t, module) in tasks.enumerated() {
                    var y = [Float](repeating: 0, count: count)
                    let pass = module.forward(frozenProduct: z, input: taskInputs?[t] ?? x, rows: rows,
                                              weight: w.baseAddress!, bias: bias, active: active[1 + t], output: &y)
                    taskOutputs.append(y)
                    taskPasses.append(pass)
                }
                return (ySharedStream, taskOutputs,
                        Pass(rows: rows, shared: sharedPass, tasks: taskPasses, taskInputsGiven: taskInputs != nil))
            }
        }
    }

    /// Accumulates every module's gradients; returns dL/dx_shared and dL/dx_t (empty when the
    /// task modules read the shared input, whose gradient then carries theirs).
    public func backward(_ pass: Pass, shared x: [Float], taskInputs: [[Float]]?,
                         sharedGradient dyShared: [Float], taskGradients dyTasks: [[Float]])
        -> (shared: [Float], tasks: [[Float]])
    {
        let rows = pass.rows
        let count = rows * frozen.outputs
        var dzTotal = [Float](repeating: 0, count: count)
        var dxShared = [Float](repeating: 0, count: rows * frozen.inputs)
        var dz = [Float](repeating: 0, count: count)
        if let shared, let sharedPass = pass.shared {
            shared.backward(sharedPass, input: x, outputGradient: dyShared, frozenProductGradient: &dz, inputGradient: &dxShared)
            for k in 0..<count { dzTotal[k] += dz[k] }
        } else {
            for k in 0..<count { dzTotal[k] += dyShared[k] }
        }
        var dxTasks: [[Float]] = []
        for (t, module) in tasks.enumerated() {
            if pass.taskInputsGiven {
                var dxTask = [Float](repeating: 0, count: rows * frozen.inputs)
                module.backward(pass.tasks[t], input: taskInputs![t], outputGradient: dyTasks[t],
                                frozenProductGradient: &dz, inputGradient: &dxTask)
                dxTasks.append(dxTask)
            } else {
                module.backward(pass.tasks[t], input: x, outputGradient: dyTasks[t],
                                frozenProductGradient: &dz, inputGradient: &dxShared)
            }
            for k in 0..<count { dzTotal[k] += dz[k] }
        }
        frozen.accumulateInputGradient(dzTotal, rows: rows, into: &dxShared)
        return (dxShared, dxTasks)
    }
}

extension Optional where Wrapped == [Float] {
    /// Runs `body` with a pointer to the values, or nil when there are none.
    func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .some(let values): return values.withUnsafeBufferPointer { body($0.baseAddress) }
        case .none: return body(nil)
        }
    }
}

/// TGLoRA's layer: one module per task group, each on its own group stream through the same
/// frozen weight: y_pi = W x_pi + b + s B_pi A_pi x_pi. One group is plain LoRA.
public final class GroupedLinear {
    public let groups: [AdaptedLinear]

    public init(frozen: FrozenLinear, modules: [LowRankModule]) {
        precondition(!modules.isEmpty, "a grouped layer needs at least one group")
        groups = modules.map { AdaptedLinear(frozen: frozen, module: $0) }
    }

    public func forward(_ groupInputs: [[Float]], rows: Int, active: [Int]) -> (outputs: [[Float]], passes: [AdaptedLinear.Pass]) {
        precondition(groupInputs.count == groups.count && active.count == groups.count, "one input and one rank per group")
        let results = groups.indices.map { groups[$0].forward(groupInputs[$0], rows: rows, active: active[$0]) }
        return (results.map(\.output), results.map(\.pass))
    }

    public func backward(_ passes: [AdaptedLinear.Pass], groupInputs: [[Float]], outputGradients: [[Float]]) -> [[Float]] {
        groups.indices.map { groups[$0].backward(passes[$0], input: groupInputs[$0], outputGradient: outputGradients[$0]) }
    }
}
