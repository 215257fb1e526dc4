import Tensors

/// A k x k convolution over channels-last maps ([batch * height * width, channels]): by default
/// stride 1 and "same" padding (dilation * (k - 1) / 2), as the ASPP head's atrous and refining
/// convs; PVT-v2's overlapping patch embeddings and key/value reductions give stride and padding.
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
    public let stride: Int
    public let padding: Int

    /// `padding` nil: "same" padding, which needs an odd kernel.
    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int = 3, dilation: Int = 1, stride: Int = 1,
                padding: Int? = nil, bias: Bool = false, role: ParameterRole, initializer: ParameterInitializer) {
        precondition(padding != nil || kernel % 2 == 1, "\(name): 'same' padding needs an odd kernel, got \(kernel)")
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel; self.dilation = dilation
        self.stride = stride
        self.padding = padding ?? dilation * (kernel - 1) / 2
        let fanIn = inChannels * kernel * kernel
        weight = Parameter(name: name + ".weight", shape: [outChannels, inChannels, kernel, kernel], role: role,
                           initialValues: initializer.layerWeight(count: outChannels * fanIn, fanIn: fanIn, role: role,
                                                                  name: name + ".weight"))
        self.bias = bias ? Parameter(name: name + ".bias", shape: [outChannels], role: role, kind: .bias,
                                     initialValues: initializer.layerBias(count: outChannels, fanIn: fanIn, role: role,
                                                                          name: name + ".bias")) : nil
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// The output's side for an input side.
    public func outputSide(_ side: Int) -> Int {
        Conv2dGeometry(stride: stride, padding: padding, dilation: dilation).outputSize(input: side, kernel: kernel)
    }

    /// Rows of the output map: [batch * outputSide(height) * outputSide(width), outChannels].
    public func forward(_ x: Matrix, batch: Int, height: Int, width: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        precondition(x.columns == inChannels && x.rows == batch * height * width,
                     "\(weight.name): input \(x.rows)x\(x.columns), expected \(batch * height * width)x\(inChannels)")
        let inputPlane = height * width
        let shape = Conv2dShape(n: batch, c: inChannels, h: height, w: width, o: outChannels, kh: kernel, kw: kernel,
                                geometry: Conv2dGeometry(stride: stride, padding: padding, dilation: dilation))
        let plane = shape.ho * shape.wo
        context.count(batch * plane * outChannels * inChannels * kernel * kernel)
        let input = toPlanes(x, batch: batch, plane: inputPlane)
        var output = [Float](repeating: 0, count: batch * outChannels * plane)
        conv2dForward(input, weight: weight.values.baseAddress!, bias: bias.map { UnsafePointer($0.values.baseAddress!) },
                      &output, shape)
        let y = fromPlanes(output, batch: batch, plane: plane, channels: outChannels)
        return (y, { [weight, bias, outChannels, inChannels] dy in
            // The kernel adds into fresh zeroed buffers, which are then added to the gradients:
            // the same sums, in the same order, as when the layer ran through the tape.
            var dOutput = [Float](repeating: 0, count: batch * outChannels * plane)
            for (i, value) in toPlanes(dy, batch: batch, plane: plane).enumerated() { dOutput[i] += value }
            var dInput = [Float](repeating: 0, count: batch * inChannels * inputPlane)
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
            return fromPlanes(dInput, batch: batch, plane: inputPlane, channels: inChannels)
        })
    }
}

/// Runs `body` with a pointer into `array`'s storage, or nil when there is no array.
private func withOptionalBuffer<R>(_ array: inout [Float]?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard array != nil else { return body(nil) }
    return array!.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}

/// A depthwise k x k convolution (PyTorch's groups = channels) with stride 1, "same" zero padding
/// and a bias, over channels-last maps: PVT-v2's `mlp.dwconv`, weight [C, 1, k, k]. Images run
/// side by side; the weight and bias gradients are summed image by image in image order, so the
/// bits do not depend on the thread count.
public final class DepthwiseConv2d {
    public let weight: Parameter
    public let bias: Parameter
    public let channels: Int
    public let kernel: Int

    public init(name: String, channels: Int, kernel: Int = 3, role: ParameterRole, initializer: ParameterInitializer) {
        precondition(kernel % 2 == 1, "\(name): 'same' padding needs an odd kernel, got \(kernel)")
        self.channels = channels; self.kernel = kernel
        let fanIn = kernel * kernel
        weight = Parameter(name: name + ".weight", shape: [channels, 1, kernel, kernel], role: role,
                           initialValues: initializer.layerWeight(count: channels * fanIn, fanIn: fanIn, role: role,
                                                                  name: name + ".weight"))
        bias = Parameter(name: name + ".bias", shape: [channels], role: role, kind: .bias,
                         initialValues: initializer.layerBias(count: channels, fanIn: fanIn, role: role, name: name + ".bias"))
    }

    public var parameters: [Parameter] { [weight, bias] }

    /// The weight as [tap, channel], so the inner loops run over contiguous channels.
    private func taps(_ values: UnsafeMutableBufferPointer<Float>) -> [Float] {
        let taps = kernel * kernel
        return (0..<(taps * channels)).map { i in values[(i % channels) * taps + i / channels] }
    }

    public func forward(_ x: Matrix, batch: Int, height: Int, width: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        precondition(x.columns == channels && x.rows == batch * height * width,
                     "\(weight.name): input \(x.rows)x\(x.columns), expected \(batch * height * width)x\(channels)")
        let c = channels, k = kernel, pad = kernel / 2, plane = height * width
        context.count(x.values.count * k * k)
        let w = taps(weight.values)
        var y = Matrix(uninitialized: x.rows, c)
        x.values.withUnsafeBufferPointer { x in
            y.values.withUnsafeMutableBufferPointer { y in
                parallelChunks(batch) { _, images in
                    for b in images {
                        for i in 0..<height {
                            for j in 0..<width {
                                let out = y.baseAddress! + (b * plane + i * width + j) * c
                                out.update(from: bias.values.baseAddress!, count: c)
                                for dy in 0..<k {
                                    let si = i + dy - pad
                                    guard si >= 0, si < height else { continue }
                                    for dx in 0..<k {
                                        let sj = j + dx - pad
                                        guard sj >= 0, sj < width else { continue }
                                        let source = x.baseAddress! + (b * plane + si * width + sj) * c
                                        let tap = (dy * k + dx) * c
                                        for ch in 0..<c { out[ch] += w[tap + ch] * source[ch] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, { [weight, bias] dOut in
            var dx = Matrix(zeros: x.rows, c)
            let wantsWeights = weight.gradient != nil || bias.gradient != nil
            // Per image: dW as [tap, channel] then dB, summed over images afterwards.
            let perImage = (k * k + 1) * c
            var partial = [Float](repeating: 0, count: wantsWeights ? batch * perImage : 0)
            x.values.withUnsafeBufferPointer { x in
                dOut.values.withUnsafeBufferPointer { dOut in
                    dx.values.withUnsafeMutableBufferPointer { dx in
                        partial.withUnsafeMutableBufferPointer { partial in
                            parallelChunks(batch) { _, images in
                                for b in images {
                                    let sums = wantsWeights ? partial.baseAddress! + b * perImage : nil
                                    for i in 0..<height {
                                        for j in 0..<width {
                                            let g = dOut.baseAddress! + (b * plane + i * width + j) * c
                                            if let sums { for ch in 0..<c { sums[k * k * c + ch] += g[ch] } }
                                            for dy in 0..<k {
                                                let si = i + dy - pad
                                                guard si >= 0, si < height else { continue }
                                                for dxo in 0..<k {
                                                    let sj = j + dxo - pad
                                                    guard sj >= 0, sj < width else { continue }
                                                    let row = (b * plane + si * width + sj) * c
                                                    let tap = (dy * k + dxo) * c
                                                    let target = dx.baseAddress! + row
                                                    for ch in 0..<c { target[ch] += w[tap + ch] * g[ch] }
                                                    if let sums {
                                                        let source = x.baseAddress! + row
                                                        for ch in 0..<c { sums[tap + ch] += g[ch] * source[ch] }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if wantsWeights {
                var total = [Float](repeating: 0, count: perImage)
                for b in 0..<batch { for i in 0..<perImage { total[i] += partial[b * perImage + i] } }
                if let gradient = weight.gradient {
                    for tap in 0..<(k * k) { for ch in 0..<c { gradient[ch * k * k + tap] += total[tap * c + ch] } }
                }
                if let gradient = bias.gradient { for ch in 0..<c { gradient[ch] += total[k * k * c + ch] } }
            }
            return dx
        })
    }
}
