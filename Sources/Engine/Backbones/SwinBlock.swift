import Foundation
import Tensors

/// A pre-norm Swin block: x + W-MSA(LN(x)) with optional cyclic shift, then x + MLP(LN(x)).
public final class SwinBlock: AdaptableBlock {
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

    /// Its part of `SwinBackbone.otherParameters`.
    var otherParameters: [Parameter] { norm1.parameters + [attention.relativePositionBias] + norm2.parameters }

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
    /// MTLoRA's task-specific block (`TaskStreamBlock`), the window attention up to its projection
    /// on the shared stream.
    func forwardTaskStreams(_ x: Matrix, batch: Int, taskCount: Int, _ context: ForwardContext)
        -> (shared: Matrix, tasks: [Matrix], pullback: (Matrix?, [Matrix?]) -> Matrix)
    {
        let block = TaskStreamBlock(
            norm1: norm1, norm2: norm2, proj: attention.proj, fc1: fc1, fc2: fc2,
            attend: { [windowOrder, attention, mask, height, width, window] normalized in
                let windowed = permuteRows(normalized, order: windowOrder, batch: batch, inverse: false)
                let windowsPerImage = (height / window) * (width / window)
                let (attendedWindows, attendPullback) = attention.attend(windowed, windowsPerImage: windowsPerImage,
                                                                         mask: mask, context)
                let attended = permuteRows(attendedWindows, order: windowOrder, batch: batch, inverse: true)
                return (attended, { dAttended in
                    let dWindows = permuteRows(dAttended, order: windowOrder, batch: batch, inverse: false)
                    return permuteRows(attendPullback(dWindows), order: windowOrder, batch: batch, inverse: true)
                })
            },
            hidden: { gelu($0, context) },
            dropPaths: { self.dropPaths(batch: batch, stream: $0, context) }, taskCount: taskCount)
        return block.forward(x, context)
    }

    /// The block's adaptable linears at `site`.
    public subscript(site: MethodOptions.LinearSite) -> [any LinearLayer] {
        get {
            switch site {
            case .qkv: return [attention.qkv]
            case .proj: return [attention.proj]
            case .fc1: return [fc1]
            case .fc2: return [fc2]
            }
        }
        set {
            switch site {
            case .qkv: attention.qkv = newValue[0]
            case .proj: attention.proj = newValue[0]
            case .fc1: fc1 = newValue[0]
            case .fc2: fc2 = newValue[0]
            }
        }
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
