/// Geometry of a 2-D convolution: stride, zero padding and dilation per axis.
public struct Conv2dGeometry: Sendable, Equatable {
    public var stride: Int
    public var padding: Int
    public var dilation: Int

    public init(stride: Int = 1, padding: Int = 0, dilation: Int = 1) {
        precondition(stride >= 1 && padding >= 0 && dilation >= 1, "conv stride \(stride) padding \(padding) dilation \(dilation)")
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
    }

    /// Output length for an input length and kernel size (PyTorch's formula).
    public func outputSize(input: Int, kernel: Int) -> Int {
        (input + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
    }
}

/// The shapes of one 2-D convolution (PyTorch Conv2d, groups = 1) on NCHW buffers: input
/// [n, c, h, w], weight [o, c, kh, kw], optional bias [o], output [n, o, ho, wo].
public struct Conv2dShape: Sendable {
    public let n, c, h, w, o, kh, kw: Int
    public let geometry: Conv2dGeometry
    public let ho, wo: Int
    /// Rows of the im2col matrix (c * kh * kw) and its columns (ho * wo).
    let patch, pixels: Int
    /// A 1x1 convolution with stride 1 and no padding: the image already is the im2col matrix.
    let direct: Bool
    let unfold: Im2col

    public init(n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int, geometry: Conv2dGeometry) {
        self.n = n; self.c = c; self.h = h; self.w = w; self.o = o; self.kh = kh; self.kw = kw
        self.geometry = geometry
        ho = geometry.outputSize(input: h, kernel: kh); wo = geometry.outputSize(input: w, kernel: kw)
        precondition(ho > 0 && wo > 0, "conv2d output would be empty for input \([n, c, h, w]) and kernel \(kh)x\(kw)")
        patch = c * kh * kw; pixels = ho * wo
        direct = kh == 1 && kw == 1 && geometry == Conv2dGeometry()
        unfold = Im2col(channels: c, height: h, width: w, kernelHeight: kh, kernelWidth: kw,
                        outHeight: ho, outWidth: wo, geometry: geometry)
    }
}

/// y = conv(x, weight) + bias: each image is im2col'd into a [c*kh*kw, ho*wo] matrix and
/// multiplied by the weight matrix [o, c*kh*kw] in one sgemm.
public func conv2dForward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                          _ y: UnsafeMutablePointer<Float>, _ shape: Conv2dShape) {
    let o = shape.o, pixels = shape.pixels, imageSize = shape.c * shape.h * shape.w
    let columns: Storage? = shape.direct ? nil : Storage(count: shape.patch * pixels)
    for image in 0..<shape.n {
        let source = x + image * imageSize, out = y + image * o * pixels
        let matrix: UnsafePointer<Float>
        if let columns { shape.unfold.gather(source, into: columns.pointer); matrix = UnsafePointer(columns.pointer) } else { matrix = source }
        if let bias {
            for ch in 0..<o { (out + ch * pixels).update(repeating: bias[ch], count: pixels) }
        }
        sgemm(transposeA: false, transposeB: false, m: o, n: pixels, k: shape.patch,
              a: weight, b: matrix, beta: bias == nil ? 0 : 1, c: out)
    }
}

/// The convolution's backward: adds dL/dweight, dL/dbias and dL/dx (each when given) for the
/// output gradient `dy`, image by image.
public func conv2dBackward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                           _ shape: Conv2dShape, dx: UnsafeMutablePointer<Float>?,
                           dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?) {
    let o = shape.o, patch = shape.patch, pixels = shape.pixels, imageSize = shape.c * shape.h * shape.w
    let scratch: Storage? = shape.direct ? nil : Storage(count: patch * pixels)
    for image in 0..<shape.n {
        let source = x + image * imageSize, g = dy + image * o * pixels
        if let dWeight {  // dW [O, patch] += dY [O, pixels] x cols^T
            let matrix: UnsafePointer<Float>
            if let scratch { shape.unfold.gather(source, into: scratch.pointer); matrix = UnsafePointer(scratch.pointer) } else { matrix = source }
            sgemm(transposeA: false, transposeB: true, m: o, n: patch, k: pixels,
                  a: g, b: matrix, beta: 1, c: dWeight)
        }
        if let dBias {
            for ch in 0..<o {
                let row = g + ch * pixels
                var total: Float = 0
                for i in 0..<pixels { total += row[i] }
                dBias[ch] += total
            }
        }
        if let dx {  // dcols [patch, pixels] = W^T dY, folded back onto the image
            let target = dx + image * imageSize
            if let scratch {
                sgemm(transposeA: true, transposeB: false, m: patch, n: pixels, k: o,
                      a: weight, b: g, beta: 0, c: scratch.pointer)
                shape.unfold.scatterAdd(scratch.pointer, into: target)
            } else {
                sgemm(transposeA: true, transposeB: false, m: patch, n: pixels, k: o,
                      a: weight, b: g, beta: 1, c: target)
            }
        }
    }
}

/// The im2col index map of one image: row (ch, ky, kx), column (oy, ox) holds
/// input pixel (ch, oy*stride - pad + ky*dilation, ox*stride - pad + kx*dilation),
/// or zero outside the image. `gather` is the forward; `scatterAdd` its transpose.
struct Im2col {
    let channels, height, width, kernelHeight, kernelWidth, outHeight, outWidth: Int
    let geometry: Conv2dGeometry

    init(channels: Int, height: Int, width: Int, kernelHeight: Int, kernelWidth: Int,
         outHeight: Int, outWidth: Int, geometry: Conv2dGeometry) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.outHeight = outHeight; self.outWidth = outWidth; self.geometry = geometry
    }

    /// Calls body(columnRow, inputRowStart or nil, xOffset) per (row of the column
    /// matrix, output row): the caller copies `outWidth` strided elements.
    @inline(__always)
    private func forEachSpan(_ body: (_ column: Int, _ inputRow: Int?, _ kx: Int) -> Void) {
        let stride = geometry.stride, pad = geometry.padding, dilation = geometry.dilation
        var row = 0
        for ch in 0..<channels {
            for ky in 0..<kernelHeight {
                for kx in 0..<kernelWidth {
                    for oy in 0..<outHeight {
                        let iy = oy * stride - pad + ky * dilation
                        let column = (row * outHeight + oy) * outWidth
                        body(column, iy >= 0 && iy < height ? (ch * height + iy) * width : nil, kx)
                    }
                    row += 1
                }
            }
        }
    }

    /// Output columns whose input column `ox * stride + offset` lies inside a row,
    /// so the copy loops need no per-element bounds test.
    @inline(__always)
    private func validColumns(offset: Int) -> Range<Int> {
        let s = geometry.stride
        let low = offset >= 0 ? 0 : (-offset + s - 1) / s
        let high = offset > width - 1 ? 0 : min(outWidth, (width - 1 - offset) / s + 1)
        return low..<max(low, high)
    }

    func gather(_ image: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>) {
        let stride = geometry.stride, pad = geometry.padding, dilation = geometry.dilation
        let outWidth = outWidth
        forEachSpan { column, inputRow, kx in
            let dst = columns + column
            guard let inputRow else { dst.update(repeating: 0, count: outWidth); return }
            let offset = kx * dilation - pad
            let valid = validColumns(offset: offset)
            let src = image + inputRow + offset
            dst.update(repeating: 0, count: valid.lowerBound)
            if stride == 1 {
                (dst + valid.lowerBound).update(from: src + valid.lowerBound, count: valid.count)
            } else {
                for ox in valid { dst[ox] = src[ox * stride] }
            }
            (dst + valid.upperBound).update(repeating: 0, count: outWidth - valid.upperBound)
        }
    }

    func scatterAdd(_ columns: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        let stride = geometry.stride, pad = geometry.padding, dilation = geometry.dilation
        forEachSpan { column, inputRow, kx in
            guard let inputRow else { return }
            let offset = kx * dilation - pad
            let src = columns + column, dst = image + inputRow + offset
            for ox in validColumns(offset: offset) { dst[ox * stride] += src[ox] }
        }
    }
}
