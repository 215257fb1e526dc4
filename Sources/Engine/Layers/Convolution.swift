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
        let shape = Conv2dShape(n: batch, c: inChannels, h: height, w: width, o: outChannels, kh: kernel, kw: kernel,
                                geometry: Conv2dGeometry(padding: dilation * (kernel - 1) / 2, dilation: dilation))
        let input = toPlanes(x, batch: batch, plane: plane)
        var output = [Float](repeating: 0, count: batch * outChannels * plane)
        conv2dForward(input, weight: weight.values.baseAddress!, bias: bias.map { UnsafePointer($0.values.baseAddress!) },
                      &output, shape)
        let y = fromPlanes(output, batch: batch, plane: plane, channels: outChannels)
        return (y, { [weight, bias, outChannels, inChannels] dy in
            // The kernel adds into fresh zeroed buffers, which are then added to the gradients:
            // the same sums, in the same order, as when the layer ran through the tape.
            var dOutput = [Float](repeating: 0, count: batch * outChannels * plane)
            for (i, value) in toPlanes(dy, batch: batch, plane: plane).enumerated() { dOutput[i] += value }
            var dInput = [Float](repeating: 0, count: batch * inChannels * plane)
            var dWeight = weight.gradient.map { [Float](repeating: 0, count: $0.count) }
            var dBias = bias?.gradient.map { [Float](repeating: 0, count: $0.count) }
            withOptionalBuffer(&dWeight) { dWeightPointer in
                withOptionalBuffer(&dBias) { dBiasPointer in
                    conv2dBackward(input, weight: weight.values.baseAddress!, dy: dOutput, shape, dx: &dInput,
                                   dWeight: dWeightPointer, dBias: dBiasPointer)
                }
            }
            for (gradient, computed) in [(weight.gradient, dWeight), (bias?.gradient, dBias)] {
                guard let gradient, let computed else { continue }
                for i in gradient.indices { gradient[i] += computed[i] }
            }
            return fromPlanes(dInput, batch: batch, plane: plane, channels: inChannels)
        })
    }
}

/// Runs `body` with a pointer into `array`'s storage, or nil when there is no array.
private func withOptionalBuffer<R>(_ array: inout [Float]?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard array != nil else { return body(nil) }
    return array!.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}
