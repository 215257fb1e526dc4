import Foundation

/// MTLoRA's task-specific block, for any pre-norm block x + proj(attend(LN(x))), then
/// x + fc2(hidden(fc1(LN(x)))): from the projection on, the block carries one stream per task
/// beside the shared one. Every task stream starts from the shared attention output and the
/// shared residual; the frozen paths of fc1 and fc2 see the shared stream ('matrix' mode), the
/// task modules the task's own. The block does not know which adapter wraps proj, fc1 and fc2:
/// each layer runs the streams itself (`LinearLayer.forward(shared:taskInputs:taskCount:_:)`).
/// The shared LayerNorm and `hidden` (Swin's GELU, PVT-v2's depthwise conv and GELU) serve
/// every stream.
struct TaskStreamBlock {
    let norm1: LayerNorm
    let norm2: LayerNorm
    let proj: any LinearLayer
    let fc1: any LinearLayer
    let fc2: any LinearLayer
    /// The attention up to its output projection, on the normalised shared stream.
    let attend: (Matrix) -> (Matrix, Pullback)
    /// What lies between fc1 and fc2, run once per stream.
    let hidden: (Matrix) -> (Matrix, Pullback)
    /// Both residual branches' drop paths of stream s (0: shared; MTLoRA's block calls its
    /// DropPath once per stream, so every stream draws its own masks).
    let dropPaths: (Int) -> (attention: DropPath?, mlp: DropPath?)
    let taskCount: Int

    /// The shared and task outputs; the pullback takes their gradients (nil: none) and returns the
    /// gradient of the block's input.
    func forward(_ x: Matrix, _ context: ForwardContext)
        -> (shared: Matrix, tasks: [Matrix], pullback: (Matrix?, [Matrix?]) -> Matrix)
    {
        let (normalized, norm1Pullback) = norm1.forward(x, context)
        let (attended, attendPullback) = attend(normalized)
        let projected = proj.forward(shared: attended, taskInputs: nil, taskCount: taskCount, context)
        let drops = (0...taskCount).map(dropPaths)
        let afterAttention = ([projected.shared] + projected.tasks).enumerated().map { s, branch in
            x + (drops[s].attention?.apply(branch) ?? branch)
        }
        let norm2Passes = afterAttention.map { norm2.forward($0, context) }
        let hiddenIn = fc1.forward(shared: norm2Passes[0].0, taskInputs: norm2Passes.dropFirst().map(\.0),
                                  taskCount: taskCount, context)
        let hiddenPasses = ([hiddenIn.shared] + hiddenIn.tasks).map(hidden)
        let mlp = fc2.forward(shared: hiddenPasses[0].0, taskInputs: hiddenPasses.dropFirst().map(\.0),
                              taskCount: taskCount, context)
        let outputs = ([mlp.shared] + mlp.tasks).enumerated().map { s, branch in
            afterAttention[s] + (drops[s].mlp?.apply(branch) ?? branch)
        }
        context.count(2 * x.values.count * outputs.count)
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
