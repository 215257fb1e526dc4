import Foundation
import Tensors

/// A pre-norm Swin block: x + W-MSA(LN(x)) with optional cyclic shift, then x + MLP(LN(x)).
public final class SwinBlock {
    public let norm1: LayerNorm
    public let attention: WindowAttention
    public let norm2: LayerNorm
    public var fc1: any LinearLayer
    public var fc2: any LinearLayer
    public let height: Int, width: Int
    /// The window actually used: timm shrinks it to the map when the map is no larger.
    public let window: Int
    public let shift: Int
    /// For each windowed row of one image, the row of the (shifted) map it comes from.
    let windowOrder: [Int32]
    let mask: [Float]?
    /// Stochastic depth of both residual branches in training passes (0: off); the backbone
    /// sets it per block (`SwinBackbone.setDropPath(rate:)`).
    public var dropPathRate: Float = 0
    /// The drop-path masks' stream keys: attention's and the MLP's branch.
    let dropPathKeys: (attention: UInt64, mlp: UInt64)

    init(name: String, dim: Int, heads: Int, resolution: Int, window configuredWindow: Int, shifted: Bool,
         mlpRatio: Int, initializer: ParameterInitializer) {
        height = resolution; width = resolution
        // As timm: a map no larger than the window is one window, and is never shifted.
        window = min(configuredWindow, resolution)
        shift = shifted && resolution > configuredWindow ? configuredWindow / 2 : 0
        norm1 = LayerNorm(name: name + ".norm1", features: dim, role: .backbone)
        attention = WindowAttention(name: name + ".attn", dim: dim, heads: heads, window: window, initializer: initializer)
        norm2 = LayerNorm(name: name + ".norm2", features: dim, role: .backbone)
        fc1 = Linear(name: name + ".mlp.fc1", inFeatures: dim, outFeatures: mlpRatio * dim, role: .backbone,
                     initializer: initializer)
        fc2 = Linear(name: name + ".mlp.fc2", inFeatures: mlpRatio * dim, outFeatures: dim, role: .backbone,
                     initializer: initializer)
        // Row k of the windowed layout takes map row windowOrder[k] after the roll by -shift.
        windowOrder = WindowMap(batch: 1, height: height, width: width, window: window, shift: shift)
            .sourceRows.map { Int32($0) }
        mask = shift > 0 ? shiftedWindowMask(height: height, width: width, window: window, shift: shift) : nil
        dropPathKeys = (stableHash(name + ".attn.drop_path"), stableHash(name + ".mlp.drop_path"))
    }

    /// The drop paths of one stream's two branches in this pass (nil: off).
    func dropPaths(batch: Int, stream: Int, _ context: ForwardContext) -> (attention: DropPath?, mlp: DropPath?) {
        (DropPath(rate: dropPathRate, images: batch, key: dropPathKeys.attention, stream: stream, context),
         DropPath(rate: dropPathRate, images: batch, key: dropPathKeys.mlp, stream: stream, context))
    }

    public var parameters: [Parameter] {
        norm1.parameters + attention.parameters + norm2.parameters + fc1.parameters + fc2.parameters
    }

    func forward(_ x: Matrix, batch: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        let drop = dropPaths(batch: batch, stream: context.stream, context)
        let (normalized, norm1Pullback) = norm1.forward(x, context)
        let windowed = permuteRows(normalized, order: windowOrder, batch: batch, inverse: false)
        let windowsPerImage = (height / window) * (width / window)
        let (attended, attentionPullback) = attention.forward(windowed, windowsPerImage: windowsPerImage,
                                                              mask: mask, context)
        let attentionBranch = permuteRows(attended, order: windowOrder, batch: batch, inverse: true)
        let afterAttention = x + (drop.attention?.apply(attentionBranch) ?? attentionBranch)
        let (normalized2, norm2Pullback) = norm2.forward(afterAttention, context)
        let (hidden, fc1Pullback) = fc1.forward(normalized2, context)
        let (activated, geluPullback) = gelu(hidden, context)
        let (mlpOut, fc2Pullback) = fc2.forward(activated, context)
        context.count(2 * x.values.count)
        return (afterAttention + (drop.mlp?.apply(mlpOut) ?? mlpOut), { [windowOrder] dy in
            let dAfterAttention = dy + norm2Pullback(fc1Pullback(geluPullback(fc2Pullback(drop.mlp?.apply(dy) ?? dy))))
            let dBranch = drop.attention?.apply(dAfterAttention) ?? dAfterAttention
            let dAttended = permuteRows(dBranch, order: windowOrder, batch: batch, inverse: false)
            let dNormalized = permuteRows(attentionPullback(dAttended), order: windowOrder, batch: batch, inverse: true)
            return dAfterAttention + norm1Pullback(dNormalized)
        })
    }
}

extension SwinBlock {
    /// MTLoRA's task-specific block: proj, fc1 and fc2 are `TaskStreamLinear`s, and from the
    /// projection on the block carries one stream per task beside the shared one. Every task
    /// stream starts from the shared attention output and the shared residual; the frozen paths
    /// of fc1 and fc2 see the shared stream ('matrix' mode), the task modules the task's own.
    /// The shared LayerNorm normalises every stream. The pullback takes the gradients of the
    /// shared and task outputs (nil: none) and returns the gradient of the block's input.
    func forwardTaskStreams(_ x: Matrix, batch: Int, _ context: ForwardContext)
        -> (shared: Matrix, tasks: [Matrix], pullback: (Matrix?, [Matrix?]) -> Matrix)
    {
        guard let proj = attention.proj as? TaskStreamLinear, let fc1 = fc1 as? TaskStreamLinear,
              let fc2 = fc2 as? TaskStreamLinear else {
            preconditionFailure("a task-specific block needs task-stream layers on proj, fc1 and fc2")
        }
        let (normalized, norm1Pullback) = norm1.forward(x, context)
        let windowed = permuteRows(normalized, order: windowOrder, batch: batch, inverse: false)
        let windowsPerImage = (height / window) * (width / window)
        let (attendedWindows, attendPullback) = attention.attend(windowed, windowsPerImage: windowsPerImage,
                                                                 mask: mask, context)
        let attended = permuteRows(attendedWindows, order: windowOrder, batch: batch, inverse: true)
        let projected = proj.forward(shared: attended, taskInputs: nil, context)
        // Every stream draws its own masks, as MTLoRA's block calls its DropPath once per stream.
        let drops = (0...proj.tasks.count).map { dropPaths(batch: batch, stream: $0, context) }
        let afterAttention = ([projected.shared] + projected.tasks).enumerated().map { s, branch in
            x + (drops[s].attention?.apply(branch) ?? branch)
        }
        let norm2Passes = afterAttention.map { norm2.forward($0, context) }
        let hidden = fc1.forward(shared: norm2Passes[0].0, taskInputs: norm2Passes.dropFirst().map(\.0), context)
        let geluPasses = ([hidden.shared] + hidden.tasks).map { gelu($0, context) }
        let mlp = fc2.forward(shared: geluPasses[0].0, taskInputs: geluPasses.dropFirst().map(\.0), context)
        let outputs = ([mlp.shared] + mlp.tasks).enumerated().map { s, branch in
            afterAttention[s] + (drops[s].mlp?.apply(branch) ?? branch)
        }
        context.count(2 * x.values.count * outputs.count)
        let taskCount = proj.tasks.count
        return (outputs[0], Array(outputs.dropFirst()), { [windowOrder] dShared, dTasks in
            let zeros = Matrix(zeros: x.rows, x.columns)
            let dOutputs = [dShared ?? zeros] + (0..<taskCount).map { dTasks[$0] ?? zeros }
            let dMLP = dOutputs.enumerated().map { s, d in drops[s].mlp?.apply(d) ?? d }
            let dGelu = mlp.pullback(dMLP[0], Array(dMLP.dropFirst()))
            let dHidden = zip([dGelu.shared] + dGelu.tasks, geluPasses).map { $1.1($0) }
            let dNormalized2 = hidden.pullback(dHidden[0], Array(dHidden.dropFirst()))
            let dAfterAttention = zip(zip(dOutputs, [dNormalized2.shared] + dNormalized2.tasks), norm2Passes)
                .map { pair, pass in pair.0 + pass.1(pair.1) }
            // Every stream's residual and every task module's input lead back to the shared stream.
            let dBranches = dAfterAttention.enumerated().map { s, d in drops[s].attention?.apply(d) ?? d }
            let dAttended = projected.pullback(dBranches[0], Array(dBranches.dropFirst())).shared
            let dWindows = permuteRows(dAttended, order: windowOrder, batch: batch, inverse: false)
            let dNormalized = permuteRows(attendPullback(dWindows), order: windowOrder, batch: batch, inverse: true)
            return dAfterAttention.dropFirst().reduce(dAfterAttention[0], +) + norm1Pullback(dNormalized)
        })
    }
}

/// Gathers rows image by image: out[k] = x[order[k]] (or scatters, out[order[k]] = x[k], when
/// `inverse`). The two are each other's pullbacks.
func permuteRows(_ x: Matrix, order: [Int32], batch: Int, inverse: Bool) -> Matrix {
    let perImage = order.count, c = x.columns
    precondition(x.rows == batch * perImage)
    var y = Matrix(uninitialized: x.rows, c)
    x.values.withUnsafeBufferPointer { x in
        y.values.withUnsafeMutableBufferPointer { y in
            let x = x.baseAddress!, y = y.baseAddress!
            // Images are disjoint blocks of rows: split over the threads (a copy changes no bit).
            parallelChunks(batch, minimumChunk: max(1, (1 << 15) / max(1, perImage * c))) { _, images in
                for b in images {
                    let base = b * perImage
                    for k in 0..<perImage {
                        let source = inverse ? base + k : base + Int(order[k])
                        let target = inverse ? base + Int(order[k]) : base + k
                        (y + target * c).update(from: x + source * c, count: c)
                    }
                }
            }
        }
    }
    return y
}
