import Foundation
import Tensors

/// A PVT-v2 block (timm's `pvt_v2.Block`): x + SRA(LN(x)), then x + fc2(GELU(dwconv(fc1(LN(x))))),
/// LayerNorms with eps 1e-6.
public final class PVTBlock: AdaptableBlock {
    public let norm1: LayerNorm
    public let attention: SpatialReductionAttention
    public let norm2: LayerNorm
    public var fc1: any LinearLayer
    /// The MLP's depthwise 3x3 conv, PVT-v2's position encoding.
    public let dwconv: DepthwiseConv2d
    public var fc2: any LinearLayer
    public let side: Int
    public var dropPathRate: Float = 0
    let dropPathKeys: (attention: UInt64, mlp: UInt64)

    init(name: String, dim: Int, heads: Int, side: Int, spatialReduction: Int, mlpRatio: Int,
         initializer: ParameterInitializer) {
        self.side = side
        norm1 = LayerNorm(name: name + ".norm1", features: dim, role: .backbone, epsilon: 1e-6)
        attention = SpatialReductionAttention(name: name + ".attn", dim: dim, heads: heads,
                                              spatialReduction: spatialReduction, initializer: initializer)
        norm2 = LayerNorm(name: name + ".norm2", features: dim, role: .backbone, epsilon: 1e-6)
        fc1 = Linear(name: name + ".mlp.fc1", inFeatures: dim, outFeatures: mlpRatio * dim, role: .backbone,
                     initializer: initializer)
        dwconv = DepthwiseConv2d(name: name + ".mlp.dwconv", channels: mlpRatio * dim, role: .backbone,
                                 initializer: initializer)
        fc2 = Linear(name: name + ".mlp.fc2", inFeatures: mlpRatio * dim, outFeatures: dim, role: .backbone,
                     initializer: initializer)
        dropPathKeys = (stableHash(name + ".attn.drop_path"), stableHash(name + ".mlp.drop_path"))
    }

    public var parameters: [Parameter] {
        norm1.parameters + attention.parameters + norm2.parameters + fc1.parameters + dwconv.parameters + fc2.parameters
    }

    /// Its part of `PVTBackbone.otherParameters`.
    var otherParameters: [Parameter] {
        let attentionNorm: [Parameter] = attention.reductionNorm?.parameters ?? []
        return norm1.parameters + attentionNorm + norm2.parameters + dwconv.parameters
    }

    func dropPaths(batch: Int, stream: Int, _ context: ForwardContext) -> (attention: DropPath?, mlp: DropPath?) {
        (DropPath(rate: dropPathRate, images: batch, key: dropPathKeys.attention, stream: stream, context),
         DropPath(rate: dropPathRate, images: batch, key: dropPathKeys.mlp, stream: stream, context))
    }

    /// dwconv then GELU, between fc1 and fc2.
    func hidden(_ h: Matrix, batch: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        let (convolved, convPullback) = dwconv.forward(h, batch: batch, height: side, width: side, context)
        let (activated, geluPullback) = gelu(convolved, context)
        return (activated, { convPullback(geluPullback($0)) })
    }

    func forward(_ x: Matrix, batch: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        let drop = dropPaths(batch: batch, stream: context.stream, context)
        let (normalized, norm1Pullback) = norm1.forward(x, context)
        let (attended, attentionPullback) = attention.forward(normalized, batch: batch, side: side, context)
        let afterAttention = x + (drop.attention?.apply(attended) ?? attended)
        let (normalized2, norm2Pullback) = norm2.forward(afterAttention, context)
        let (hiddenIn, fc1Pullback) = fc1.forward(normalized2, context)
        let (activated, hiddenPullback) = hidden(hiddenIn, batch: batch, context)
        let (mlpOut, fc2Pullback) = fc2.forward(activated, context)
        context.count(2 * x.values.count)
        return (afterAttention + (drop.mlp?.apply(mlpOut) ?? mlpOut), { dy in
            let dAfterAttention = dy + norm2Pullback(fc1Pullback(hiddenPullback(fc2Pullback(drop.mlp?.apply(dy) ?? dy))))
            let dBranch = drop.attention?.apply(dAfterAttention) ?? dAfterAttention
            return dAfterAttention + norm1Pullback(attentionPullback(dBranch))
        })
    }

    /// MTLoRA's task-specific block (`TaskStreamBlock`); q and kv stay shared.
    func forwardTaskStreams(_ x: Matrix, batch: Int, taskCount: Int, _ context: ForwardContext)
        -> (shared: Matrix, tasks: [Matrix], pullback: (Matrix?, [Matrix?]) -> Matrix)
    {
        let block = TaskStreamBlock(
            norm1: norm1, norm2: norm2, proj: attention.proj, fc1: fc1, fc2: fc2,
            attend: { [attention, side] in attention.attend($0, batch: batch, side: side, context) },
            hidden: { self.hidden($0, batch: batch, context) },
            dropPaths: { self.dropPaths(batch: batch, stream: $0, context) }, taskCount: taskCount)
        return block.forward(x, context)
    }

    /// The block's adaptable linears at `site`: qkv is timm's `q` and `kv`.
    public subscript(site: MethodOptions.LinearSite) -> [any LinearLayer] {
        get {
            switch site {
            case .qkv: return [attention.q, attention.kv]
            case .proj: return [attention.proj]
            case .fc1: return [fc1]
            case .fc2: return [fc2]
            }
        }
        set {
            switch site {
            case .qkv: attention.q = newValue[0]; attention.kv = newValue[1]
            case .proj: attention.proj = newValue[0]
            case .fc1: fc1 = newValue[0]
            case .fc2: fc2 = newValue[0]
            }
        }
    }
}
