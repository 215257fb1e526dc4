import Testing
@testable import Engine

@Suite struct MultiTaskLayerTests {
    let inputs = 4, outputs = 3, rows = 5, taskCount = 3

    func module(_ kind: LowRankModule.Kind, rank: Int, scale: Float, frozen: FrozenLinear,
                _ generator: inout SeededGenerator) -> LowRankModule {
        let module = LowRankModule(kind: kind, inputs: inputs, outputs: outputs, rank: rank, scale: scale,
                                   weight: frozen.weight, generator: &generator)
        var factors = module.factors
        factors.b = generator.floats(outputs * rank)
        module.setParameters(factors: factors)
        return module
    }

    /// s B A x + W x0 + b computed naively, one output at a time.
    func naive(frozen: FrozenLinear, module: LowRankModule?, frozenInput x0: [Float], input x: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                var sum = frozen.bias![o]
                for i in 0..<inputs { sum += frozen.weight[o * inputs + i] * x0[r * inputs + i] }
                if let module {
                    for c in 0..<module.rank {
                        var ax: Float = 0
                        for i in 0..<inputs { ax += module.factors.a[c * inputs + i] * x[r * inputs + i] }
                        sum += module.scale * module.factors.b[o * module.rank + c] * ax
                    }
                }
                y[r * outputs + o] = sum
            }
        }
        return y
    }

    func expectClose(_ a: [Float], _ b: [Float], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 }, "\(a) != \(b)", sourceLocation: sourceLocation)
    }

    @Test func taskStreamsFollowMatrixSemantics() {
        var generator = SeededGenerator(seed: 31)
        let frozen = FrozenLinear(inputs: inputs, outputs: outputs, weight: generator.floats(inputs * outputs), bias: generator.floats(outputs))
        let shared = module(.lora, rank: 3, scale: 4, frozen: frozen, &generator)
        let tasks = (0..<taskCount).map { t in module(.lora, rank: 2, scale: Float(t + 1), frozen: frozen, &generator) }
        let layer = TaskStreamLinear(frozen: frozen, shared: shared, tasks: tasks)
        let x = generator.floats(rows * inputs)
        let xTasks = (0..<taskCount).map { _ in generator.floats(rows * inputs) }

        let withStreams = layer.forward(shared: x, taskInputs: xTasks, rows: rows, active: [3, 2, 2, 2])
        expectClose(withStreams.shared, naive(frozen: frozen, module: shared, frozenInput: x, input: x))
        for t in 0..<taskCount {
            // The frozen path sees x_shared; the task module sees x_t; the shared module is absent.
            expectClose(withStreams.tasks[t], naive(frozen: frozen, module: tasks[t], frozenInput: x, input: xTasks[t]))
        }
        let firstLayer = layer.forward(shared: x, taskInputs: nil, rows: rows, active: [3, 2, 2, 2])
        for t in 0..<taskCount {
            expectClose(firstLayer.tasks[t], naive(frozen: frozen, module: tasks[t], frozenInput: x, input: x))
        }
    }

    @Test(arguments: [true, false])
    func taskStreamGradientsMatchFiniteDifferences(taskInputsGiven: Bool) {
        var generator = SeededGenerator(seed: 32)
        let frozen = FrozenLinear(inputs: inputs, outputs: outputs, weight: generator.floats(inputs * outputs), bias: generator.floats(outputs))
        let shared = module(.lora, rank: 3, scale: 4, frozen: frozen, &generator)
        let tasks = (0..<taskCount).map { _ in module(.lora, rank: 2, scale: 4, frozen: frozen, &generator) }
        let layer = TaskStreamLinear(frozen: frozen, shared: shared, tasks: tasks)
        let x = generator.floats(rows * inputs)
        let xTasks: [[Float]]? = taskInputsGiven ? (0..<taskCount).map { _ in generator.floats(rows * inputs) } : nil
        let weights = (0...taskCount).map { _ in generator.floats(rows * outputs) }
        let active = [3, 2, 1, 2]

        func loss(x: [Float], xTasks: [[Float]]?) -> Double {
            let out = layer.forward(shared: x, taskInputs: xTasks, rows: rows, active: active)
            return weightedSum(out.shared, weights[0]) + (0..<taskCount).map { weightedSum(out.tasks[$0], weights[$0 + 1]) }.reduce(0, +)
        }
        let out = layer.forward(shared: x, taskInputs: xTasks, rows: rows, active: active)
        for m in [shared] + tasks { m.zeroGradients() }
        let grads = layer.backward(out.pass, shared: x, taskInputs: xTasks, sharedGradient: weights[0],
                                   taskGradients: Array(weights[1...]))
        expectGradientsMatch(grads.shared, numericGradient(x) { loss(x: $0, xTasks: xTasks) }, "dL/dx_shared")
        if let xTasks {
            for t in 0..<taskCount {
                let numeric = numericGradient(xTasks[t]) { v in
                    var changed = xTasks
                    changed[t] = v
                    return loss(x: x, xTasks: changed)
                }
                expectGradientsMatch(grads.tasks[t], numeric, "dL/dx_\(t)")
            }
        } else {
            #expect(grads.tasks.isEmpty)
        }
        // One task module's A: only that task's loss term depends on it.
        let probe = tasks[1]
        let a = probe.factors.a
        let numericA = numericGradient(a) { v in
            var factors = probe.factors
            factors.a = v
            let saved = probe.factors
            probe.setParameters(factors: factors)
            defer { probe.setParameters(factors: saved) }
            return loss(x: x, xTasks: xTasks)
        }
        expectGradientsMatch(probe.gradient.a, numericA, "dL/dA_task1")
    }

    @Test func groupedLayerRunsOneStreamPerGroup() {
        var generator = SeededGenerator(seed: 33)
        let frozen = FrozenLinear(inputs: inputs, outputs: outputs, weight: generator.floats(inputs * outputs), bias: generator.floats(outputs))
        let modules = [module(.lora, rank: 3, scale: 2, frozen: frozen, &generator),
                       module(.lora, rank: 1, scale: 2, frozen: frozen, &generator)]
        let layer = GroupedLinear(frozen: frozen, modules: modules)
        let inputsPerGroup = [generator.floats(rows * inputs), generator.floats(rows * inputs)]
        let (outputsPerGroup, passes) = layer.forward(inputsPerGroup, rows: rows, active: [3, 1])
        for g in 0..<2 {
            // Unlike MTLoRA, the frozen path sees the group's own input.
            expectClose(outputsPerGroup[g], naive(frozen: frozen, module: modules[g], frozenInput: inputsPerGroup[g], input: inputsPerGroup[g]))
        }
        let dy = [generator.floats(rows * outputs), generator.floats(rows * outputs)]
        let dx = layer.backward(passes, groupInputs: inputsPerGroup, outputGradients: dy)
        for g in 0..<2 {
            let numeric = numericGradient(inputsPerGroup[g]) { v in
                var changed = inputsPerGroup
                changed[g] = v
                return weightedSum(layer.forward(changed, rows: rows, active: [3, 1]).outputs[g], dy[g])
            }
            expectGradientsMatch(dx[g], numeric, "dL/dx_group\(g)")
        }
    }
}
