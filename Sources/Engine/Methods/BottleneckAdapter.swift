import Foundation

/// Houlsby's bottleneck adapter behind a frozen sublayer's output projection (attention's
/// `proj`, the MLP's `fc2`): y = L(x), out = y + up(GELU(down(y))). `down` maps to the
/// bottleneck width, `up` back; `up` starts at zero, so the adapted model starts as the frozen
/// one and `down` still gets gradients from the first step on.
public final class BottleneckAdapter: LinearLayer {
    public let base: any LinearLayer
    public let down: Linear
    public let up: Linear

    /// `name`: the wrapped layer's name; the adapter's parameters are `name.adapter.down.*` and
    /// `name.adapter.up.*`.
    public init(wrapping base: any LinearLayer, name: String, bottleneck: Int, seed: UInt64) {
        self.base = base
        let initializer = ParameterInitializer(seed: seed)
        down = Linear(name: name + ".adapter.down", inFeatures: base.outFeatures, outFeatures: bottleneck, role: .adapter,
                      initializer: initializer)
        up = Linear(name: name + ".adapter.up", inFeatures: bottleneck, outFeatures: base.outFeatures, role: .adapter,
                    initializer: initializer)
        up.weight.values.update(repeating: 0)
    }

    public var inFeatures: Int { base.inFeatures }
    public var outFeatures: Int { base.outFeatures }
    public var parameters: [Parameter] { base.parameters + down.parameters + up.parameters }

    public func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
        let (y, basePullback) = base.forward(x, context)
        let (reduced, downPullback) = down.forward(y, context)
        let (activated, geluPullback) = gelu(reduced, context)
        let (update, upPullback) = up.forward(activated, context)
        return (y + update, { dOutput in basePullback(dOutput + downPullback(geluPullback(upPullback(dOutput)))) })
    }
}
