/// A frozen `Linear` with one LoRA or DoRA module, in the backbone's place of the linear it wraps
/// (single-task LoRA, MTL-LoRA, FAAR's shared modules). The frozen layer does not know: it runs
/// its own forward and pullback, and the module adds its update on top.
public final class AdaptedLinear: LinearLayer {
    public let base: Linear
    public let module: any LowRankModule
    public init(base: Linear, module: any LowRankModule) {
        precondition(module.inputs == base.inFeatures && module.outputs == base.outFeatures,
                     "\(base.weight.name): the module must match the frozen layer's shape")
        self.base = base
        self.module = module
    }

    public var inFeatures: Int { base.inFeatures }
    public var outFeatures: Int { base.outFeatures }
    public var parameters: [Parameter] { base.parameters + module.parameters }

    public func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
        let (frozenOutput, basePullback) = base.forward(x, context)
        let (y, modulePullback) = module.forward(frozenOutput: frozenOutput, input: x, of: base, context)
        return (y, { [base] dy in
            var df = Matrix(zeros: x.rows, base.outFeatures)
            var dx = Matrix(zeros: x.rows, base.inFeatures)
            modulePullback(x.values, dy.values, &df.values, &dx.values)
            return dx + basePullback(df)
        })
    }
}

extension LowRankModule {
    /// The module's output on `x`, given f = the frozen `base`'s output (on x or, in MTLoRA's
    /// task streams, on the shared input).
    func forward(frozenOutput f: Matrix, input x: Matrix, of base: Linear, _ context: ForwardContext)
        -> (Matrix, LowRankPullback)
    {
        var y = Matrix(zeros: x.rows, base.outFeatures)
        let pullback = base.bias.withOptionalPointer { bias in
            forward(frozenOutput: f.values, input: x.values, rows: x.rows, weight: base.weight.values.baseAddress!,
                    bias: bias, context, output: &y.values)
        }
        return (y, pullback)
    }
}

/// MTLoRA's layer in 'matrix' mode: a shared module on the shared stream and, in the last block
/// of a stage, one module per task whose frozen path sees the shared input:
///   y_shared = adapter_shared(W x_shared + b, x_shared)
///   y_t      = adapter_t(W x_shared + b, x_t)        (x_t = x_shared where no task stream exists yet)
/// Used as a plain `LinearLayer` it runs the shared stream only.
public final class TaskStreamLinear: LinearLayer {
    public let base: Linear
    public let shared: (any LowRankModule)?
    public let tasks: [any LowRankModule]
    public init(base: Linear, shared: (any LowRankModule)?, tasks: [any LowRankModule]) {
        for module in (shared.map { [$0] } ?? []) + tasks {
            precondition(module.inputs == base.inFeatures && module.outputs == base.outFeatures,
                         "\(base.weight.name): every module must match the frozen layer's shape")
        }
        self.base = base
        self.shared = shared
        self.tasks = tasks
    }

    public var inFeatures: Int { base.inFeatures }
    public var outFeatures: Int { base.outFeatures }
    public var parameters: [Parameter] {
        base.parameters + (shared?.parameters ?? []) + tasks.flatMap(\.parameters)
    }

    public func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
        let (shared, _, pullback) = forward(shared: x, taskInputs: nil, context, tasks: false)
        return (shared, { dy in pullback(dy, []).shared })
    }

    /// The shared stream and one stream per task module. `taskInputs` nil: every task module
    /// reads the shared input (the first task-specific layer of a block).
    public func forward(shared x: Matrix, taskInputs: [Matrix]?, taskCount: Int, _ context: ForwardContext)
        -> (shared: Matrix, tasks: [Matrix], pullback: StreamPullback)
    {
        precondition(taskCount == tasks.count, "\(base.weight.name): \(tasks.count) task modules for \(taskCount) task streams")
        return forward(shared: x, taskInputs: taskInputs, context, tasks: true)
    }

    private func forward(shared x: Matrix, taskInputs: [Matrix]?, _ context: ForwardContext, tasks runTasks: Bool)
        -> (shared: Matrix, tasks: [Matrix], pullback: StreamPullback)
    {
        precondition(taskInputs.map { $0.count == tasks.count } ?? true, "one input per task")
        let (frozenOutput, basePullback) = base.forward(x, context)
        let rows = x.rows
        let sharedPass = shared.map { $0.forward(frozenOutput: frozenOutput, input: x, of: base, context) }
        let taskPasses = (runTasks ? tasks : []).enumerated().map { t, module in
            module.forward(frozenOutput: frozenOutput, input: taskInputs?[t] ?? x, of: base, context)
        }
        return (sharedPass?.0 ?? frozenOutput, taskPasses.map(\.0), { [base] dyShared, dyTasks in
            var dfTotal = dyShared
            var dxShared = Matrix(zeros: rows, base.inFeatures)
            var df = Matrix(zeros: rows, base.outFeatures)
            if let sharedPass {
                sharedPass.1(x.values, dyShared.values, &df.values, &dxShared.values)
                dfTotal = df
            }
            var dxTasks: [Matrix] = []
            for (t, (_, pullback)) in taskPasses.enumerated() {
                if let taskInputs {
                    var dxTask = Matrix(zeros: rows, base.inFeatures)
                    pullback(taskInputs[t].values, dyTasks[t].values, &df.values, &dxTask.values)
                    dxTasks.append(dxTask)
                } else {
                    pullback(x.values, dyTasks[t].values, &df.values, &dxShared.values)
                }
                dfTotal += df
            }
            return (dxShared + basePullback(dfTotal), dxTasks)
        })
    }
}

/// TGLoRA's layer: one module per task group over the same frozen weight, y_pi = W x_pi + b +
/// s B_pi A_pi x_pi; each group stream has its own frozen path. The backbone runs a stage once
/// per group stream, and a pass uses the module of its stream (`ForwardContext.stream`, the
/// group's index). One group is plain LoRA.
public final class GroupedLinear: LinearLayer {
    public let groups: [AdaptedLinear]

    public init(base: Linear, modules: [any LowRankModule]) {
        precondition(!modules.isEmpty, "\(base.weight.name): a grouped layer needs at least one group")
        groups = modules.map { AdaptedLinear(base: base, module: $0) }
    }

    public var inFeatures: Int { groups[0].inFeatures }
    public var outFeatures: Int { groups[0].outFeatures }
    public var parameters: [Parameter] { groups[0].base.parameters + groups.flatMap(\.module.parameters) }

    public func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
        precondition(groups.indices.contains(context.stream),
                     "\(groups[0].base.weight.name): no module for group stream \(context.stream) of \(groups.count)")
        return groups[context.stream].forward(x, context)
    }
}

extension Optional where Wrapped == Parameter {
    /// Runs `body` with a pointer to the parameter's values, or nil when there is none.
    func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        body(self.map { UnsafePointer($0.values.baseAddress!) })
    }
}
