import Foundation

/// MTLoRA's task-specific block, for any pre-norm block x + proj(attend(LN(x))), then
/// x + fc2(hidden(fc1(LN(x)))): proj, fc1 and fc2 are `TaskStreamLinear`s, and from the
/// projection on the block carries one stream per task beside the shared one. Every task stream
/// starts from the shared attention output and the shared residual; the frozen paths of fc1 and
/// fc2 see the shared stream ('matrix' mode), the task modules the task's own. The shared
/// LayerNorm and `hidden` (Swin's GELU, PVT-v2's depthwise conv and GELU) serve every stream.
struct TaskStreamBlock {
    let norm1: LayerNorm
    let norm2: LayerNorm
    let proj: TaskStreamLinear
    let fc1: TaskStreamLinear
    let fc2: TaskStreamLinear
    /// The attention up to its output projection, on the normalised shared stream.
    let attend: (Matrix) -> (Matrix, Pullback)
    /// What lies between fc1 and fc2, run once per stream.
    let hidden: (Matrix) -> (Matrix, Pullback)
    /// Both residual branches' drop paths of stream s (0: shared; MTLoRA's block calls its
    /// DropPath once per stream, so every stream draws its own masks).
    let dropPaths: (Int) -> (attention: DropPath?, mlp: DropPath?)

    init(norm1: LayerNorm, norm2: LayerNorm, proj: any LinearLayer, fc1: any LinearLayer, fc2: any LinearLayer,
         attend: @escaping (Matrix) -> (Matrix, Pullback), hidden: @escaping (Matrix) -> (Matrix, Pullback),
         dropPaths: @escaping (Int) -> (attention: DropPath?, mlp: DropPath?)) {
        guard let proj = proj as? TaskStreamLinear, let fc1 = fc1 as? TaskStreamLinear,
              let fc2 = fc2 as? TaskStreamLinear else {
            preconditionFailure("a task-specific block needs task-stream layers on proj, fc1 and fc2")
        }
        self.norm1 = norm1; self.norm2 = norm2; self.proj = proj; self.fc1 = fc1; self.fc2 = fc2
        self.attend = attend; self.hidden = hidden; self.dropPaths = dropPaths
    }

    /// The shared and task outputs; the pullback takes their gradients (nil: none) and returns the
    /// gradient of the block's input.
    func forward(_ x: Matrix, _ context: ForwardContext)
        -> (shared: Matrix, tasks: [Matrix], pullback: (Matrix?, [Matrix?]) -> Matrix)
    {
        let (normalized, norm1Pullback) = norm1.forward(x, context)
        let (attended, attendPullback) = attend(normalized)
        let projected = proj.forward(shared: attended, taskInputs: nil, context)
        let drops = (0...proj.tasks.count).map(dropPaths)
        let afterAttention = ([projected.shared] + projected.tasks).enumerated().map { s, branch in
            x + (drops[s].attention?.apply(branch) ?? branch)
        }
        let norm2Passes = afterAttention.map { norm2.forward($0, context) }
        let hiddenIn = fc1.forward(shared: norm2Passes[0].0, taskInputs: norm2Passes.dropFirst().map(\.0), context)
        let hiddenPasses = ([hiddenIn.shared] + hiddenIn.tasks).map(hidden)
        let mlp = fc2.forward(shared: hiddenPasses[0].0, taskInputs: hiddenPasses.dropFirst().map(\.0), context)
        let outputs = ([mlp.shared] + mlp.tasks).enumerated().map { s, branch in
            afterAttention[s] + (drops[s].mlp?.apply(branch) ?? branch)
        }
        context.count(2 * x.values.count * outputs.count)
        let taskCount = proj.tasks.count
        return (outputs[0], Array(outputs.dropFirst()), { dShared, dTasks in
            let zeros = Matrix(zeros: x.rows, x.columns)
            let dOutputs = [dShared ?? zeros] + (0..<taskCount).map { dTasks[$0] ?? zeros }
            let dMLP = dOutputs.enumerated().map { s, d in drops[s].mlp?.apply(d) ?? d }
            let dHidden = mlp.pullback(dMLP[0], Array(dMLP.dropFirst()))
            let dHiddenIn = zip([dHidden.shared] + dHidden.tasks, hiddenPasses).map { $1.1($0) }
            let dNormalized2 = hiddenIn.pullback(dHiddenIn[0], Array(dHiddenIn.dropFirst()))
            let dAfterAttention = zip(zip(dOutputs, [dNormalized2.shared] + dNormalized2.tasks), norm2Passes)
                .map { pair, pass in pair.0 + pass.1(pair.1) }
            // Every stream's residual and every task module's input lead back to the shared stream.
            let dBranches = dAfterAttention.enumerated().map { s, d in drops[s].attention?.apply(d) ?? d }
            let dAttended = projected.pullback(dBranches[0], Array(dBranches.dropFirst())).shared
            let dNormalized = attendPullback(dAttended)
            return dAfterAttention.dropFirst().reduce(dAfterAttention[0], +) + norm1Pullback(dNormalized)
        })
    }
}
