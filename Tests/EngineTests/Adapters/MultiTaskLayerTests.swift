import Testing
import Tensors
@testable import Engine

@Suite struct MultiTaskLayerTests {
    let inputs = 4, outputs = 3, rows = 5, taskCount = 3

    func module(_ name: String, rank: Int, scale: Float, base: Linear, _ generator: inout SeededRandom) -> any LowRankModule {
        let module = LowRankKind.lora.module(name: name, inputs: inputs, outputs: outputs, rank: rank, scale: scale,
                                             weight: nil, seed: 7)
        var factors = module.branch.factors
        factors.b = generator.floats(outputs * rank)
        module.branch.setParameters(factors: factors)
        return module
    }

    func matrix(_ values: [Float], columns: Int) -> Matrix { Matrix(rows: rows, columns: columns, values: values) }

    /// W x0 + b + s B A x computed naively, one output at a time.
    func naive(base: Linear, module: (any LowRankModule)?, frozenInput x0: [Float], input x: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                var sum = base.bias!.values[o]
                for i in 0..<inputs { sum += base.weight.values[o * inputs + i] * x0[r * inputs + i] }
                if let module {
                    let factors = module.branch.factors
                    for c in 0..<module.rank {
                        var ax: Float = 0
                        for i in 0..<inputs { ax += factors.a[c * inputs + i] * x[r * inputs + i] }
                        sum += module.branch.scale * factors.b[o * module.rank + c] * ax
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

    func streamLayer(_ generator: inout SeededRandom) -> TaskStreamLinear {
        let base = frozenLinear(inputs: inputs, outputs: outputs, &generator)
        let shared = module("shared", rank: 3, scale: 4, base: base, &generator)
        let tasks = (0..<taskCount).map { t in module("task\(t)", rank: 2, scale: Float(t + 1), base: base, &generator) }
        return TaskStreamLinear(base: base, shared: shared, tasks: tasks)
    }

    @Test func taskStreamsFollowMatrixSemantics() {
        var generator = SeededRandom(seed: 31)
        let layer = streamLayer(&generator)
        let x = generator.floats(rows * inputs)
        let xTasks = (0..<taskCount).map { _ in generator.floats(rows * inputs) }

        let withStreams = layer.forward(shared: matrix(x, columns: inputs), taskInputs: xTasks.map { matrix($0, columns: inputs) },
                                        taskCount: taskCount, ForwardContext(training: false))
        expectClose(withStreams.shared.values, naive(base: layer.base, module: layer.shared, frozenInput: x, input: x))
        for t in 0..<taskCount {
            // The frozen path sees x_shared; the task module sees x_t; the shared module is absent.
            expectClose(withStreams.tasks[t].values, naive(base: layer.base, module: layer.tasks[t], frozenInput: x, input: xTasks[t]))
        }
        let firstLayer = layer.forward(shared: matrix(x, columns: inputs), taskInputs: nil, taskCount: taskCount,
                                       ForwardContext(training: false))
        for t in 0..<taskCount {
            expectClose(firstLayer.tasks[t].values, naive(base: layer.base, module: layer.tasks[t], frozenInput: x, input: x))
        }
        // As a plain linear layer it is the shared stream.
        expectClose(layer.forward(matrix(x, columns: inputs), ForwardContext(training: false)).0.values, withStreams.shared.values)
    }

    @Test(arguments: [true, false])
    func taskStreamGradientsMatchFiniteDifferences(taskInputsGiven: Bool) {
        var generator = SeededRandom(seed: 32)
        let layer = streamLayer(&generator)
        let x = generator.floats(rows * inputs)
        let xTasks: [[Float]]? = taskInputsGiven ? (0..<taskCount).map { _ in generator.floats(rows * inputs) } : nil
        let weights = (0...taskCount).map { _ in generator.floats(rows * outputs) }

        func run(x: [Float], xTasks: [[Float]]?) -> (shared: Matrix, tasks: [Matrix], pullback: StreamPullback) {
            layer.forward(shared: matrix(x, columns: inputs), taskInputs: xTasks?.map { matrix($0, columns: inputs) },
                          taskCount: taskCount, ForwardContext(training: false))
        }
        func loss(x: [Float], xTasks: [[Float]]?) -> Double {
            let out = run(x: x, xTasks: xTasks)
            return weightedSum(out.shared.values, weights[0])
                + (0..<taskCount).map { weightedSum(out.tasks[$0].values, weights[$0 + 1]) }.reduce(0, +)
        }
        let out = run(x: x, xTasks: xTasks)
        for parameter in layer.parameters { parameter.zeroGradient() }
        let grads = out.pullback(matrix(weights[0], columns: outputs), weights[1...].map { matrix($0, columns: outputs) })
        expectGradientsMatch(grads.shared.values, numericGradient(x) { loss(x: $0, xTasks: xTasks) }, "dL/dx_shared")
        if let xTasks {
            for t in 0..<taskCount {
                let numeric = numericGradient(xTasks[t]) { v in
                    var changed = xTasks
                    changed[t] = v
                    return loss(x: x, xTasks: changed)
                }
                expectGradientsMatch(grads.tasks[t].values, numeric, "dL/dx_\(t)")
            }
        } else {
            #expect(grads.tasks.isEmpty)
        }
        // One task module's A: only that task's loss term depends on it.
        let probe = layer.tasks[1]
        let numericA = numericGradientOfA(probe) { loss(x: x, xTasks: xTasks) }
        expectGradientsMatch(probe.branch.gradient.a, numericA, "dL/dA_task1")
    }

    @Test func groupedLayerRunsOneStreamPerGroup() {
        var generator = SeededRandom(seed: 33)
        let base = frozenLinear(inputs: inputs, outputs: outputs, &generator)
        let modules = [module("group0", rank: 3, scale: 2, base: base, &generator),
                       module("group1", rank: 1, scale: 2, base: base, &generator)]
        let layer = GroupedLinear(base: base, modules: modules)
        #expect(layer.parameters.count == 2 + 2 * 2)
        let inputsPerGroup = [generator.floats(rows * inputs), generator.floats(rows * inputs)]
        for g in 0..<2 {
            var context = ForwardContext(training: false)
            context.stream = g
            let (y, pullback) = layer.forward(matrix(inputsPerGroup[g], columns: inputs), context)
            // Unlike MTLoRA, the frozen path sees the group's own input.
            expectClose(y.values, naive(base: base, module: modules[g], frozenInput: inputsPerGroup[g], input: inputsPerGroup[g]))
            for parameter in layer.parameters { parameter.zeroGradient() }
            let dy = generator.floats(rows * outputs)
            let dx = pullback(matrix(dy, columns: outputs)).values
            let numeric = numericGradient(inputsPerGroup[g]) { v in
                weightedSum(layer.forward(matrix(v, columns: inputs), context).0.values, dy)
            }
            expectGradientsMatch(dx, numeric, "dL/dx_group\(g)")
            // Only the stream's own group module learns from it.
            #expect(modules[1 - g].branch.weightB.gradient!.allSatisfy { $0 == 0 })
            #expect(modules[g].branch.weightB.gradient!.contains { $0 != 0 })
        }
    }
}
