import Tensors

/// A k x k convolution over channels-last maps ([batch * height * width, channels]) with stride 1
/// and "same" padding (dilation * (k - 1) / 2), as the ASPP head's atrous and refining convs.
/// It runs the Tensors target's im2col + sgemm kernel (which handles dilation) on channel-plane
/// copies of the maps; 1x1 convolutions stay `Linear`s on rows.
public final class Conv2d {
    /// [out, in, k, k], as PyTorch stores a conv weight.
    public let weight: Parameter
    public let bias: Parameter?
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let dilation: Int

    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int = 3, dilation: Int = 1, bias: Bool = false,
                role: ParameterRole, initializer: ParameterInitializer) {
        precondition(kernel % 2 == 1, "\(name): 'same' padding needs an odd kernel, got \(kernel)")
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel; self.dilation = dilation
        let fanIn = inChannels * kernel * kernel
        weight = Parameter(name: name + ".weight", shape: [outChannels, inChannels, kernel, kernel], role: role,
                           initialValues: initializer.layerWeight(count: outChannels * fanIn, fanIn: fanIn, role: role,
                                                                  name: name + ".weight"))
        self.bias = bias ? Parameter(name: name + ".bias", shape: [outChannels], role: role,
                                     initialValues: initializer.layerBias(count: outChannels, fanIn: fanIn, role: role,
                                                                          name: name + ".bias")) : nil
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func forward(_ x: Matrix, batch: Int, height: Int, width: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        precondition(x.columns == inChannels && x.rows == batch * height * width,
                     "\(weight.name): input \(x.rows)x\(x.columns), expected \(batch * height * width)x\(inChannels)")
        let plane = height * width
        context.count(batch * plane * outChannels * inChannels * kernel * kernel)
        let input = Tensor(toPlanes(x, batch: batch, plane: plane), shape: [batch, inChannels, height, width],
                           requiresGrad: true)
        let kernelTensor = Tensor(Array(weight.values), shape: weight.shape, requiresGrad: weight.isTrainable)
        let biasTensor = bias.map { Tensor(Array($0.values), shape: [outChannels], requiresGrad: $0.isTrainable) }
        let geometry = Conv2dGeometry(padding: dilation * (kernel - 1) / 2, dilation: dilation)
        let output = conv2d(input, weight: kernelTensor, bias: biasTensor, geometry)
        let y = fromPlanes(output.values, batch: batch, plane: plane, channels: outChannels)
        return (y, { [weight, bias, outChannels, inChannels] dy in
            output.backward(seed: Tensor(toPlanes(dy, batch: batch, plane: plane),
                                         shape: [batch, outChannels, height, width]))
            for (parameter, tensor) in [(weight, kernelTensor)] + (bias.map { [($0, biasTensor!)] } ?? []) {
                guard let gradient = parameter.gradient, let computed = tensor.grad else { continue }
                for i in gradient.indices { gradient[i] += computed[i] }
            }
            return fromPlanes(input.gradValues, batch: batch, plane: plane, channels: inChannels)
        })
    }
}
