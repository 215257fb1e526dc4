import Foundation
import Tensors

/// GELU, the exact form 0.5 x (1 + erf(x / √2)) that PyTorch's nn.GELU uses by default. The
/// pullback keeps the derivative the forward computed instead of x.
func gelu(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
    context.count(x.values.count)
    var y = Matrix(uninitialized: x.rows, x.columns), derivative = Matrix(uninitialized: x.rows, x.columns)
    x.values.withUnsafeBufferPointer { x in
        y.values.withUnsafeMutableBufferPointer { y in
            derivative.values.withUnsafeMutableBufferPointer { d in
                geluForward(x.baseAddress!, y.baseAddress!, derivative: d.baseAddress!, count: x.count)
            }
        }
    }
    return (y, { dy in
        freshGradient(like: dy) { dy, dx in
            derivative.values.withUnsafeBufferPointer { d in
                geluBackward(derivative: d.baseAddress!, dy, dx, count: d.count, accumulate: false)
            }
        }
    })
}

/// A new gradient of dy's shape, every element written by `fill(dy, dx)` (no zero-fill).
private func freshGradient(like dy: Matrix, _ fill: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Matrix {
    var dx = Matrix(uninitialized: dy.rows, dy.columns)
    dy.values.withUnsafeBufferPointer { dy in
        dx.values.withUnsafeMutableBufferPointer { dx in fill(dy.baseAddress!, dx.baseAddress!) }
    }
    return dx
}

/// Side-by-side concatenation of the columns of matrices with equal row counts.
func concatenateColumns(_ parts: [Matrix]) -> (Matrix, Pullback) {
    let rows = parts[0].rows
    let widths = parts.map(\.columns)
    let total = widths.reduce(0, +)
    var y = Matrix(uninitialized: rows, total)
    y.values.withUnsafeMutableBufferPointer { y in
        var offset = 0
        for part in parts {
            precondition(part.rows == rows)
            part.values.withUnsafeBufferPointer { p in
                for r in 0..<rows {
                    (y.baseAddress! + r * total + offset).update(from: p.baseAddress! + r * part.columns, count: part.columns)
                }
            }
            offset += part.columns
        }
    }
    return (y, { dy in
        // The pullback of a concatenation returns the gradients side by side too; callers split them.
        dy
    })
}

/// Splits columns back into parts of the given widths (the pullback side of `concatenateColumns`).
func splitColumns(_ matrix: Matrix, widths: [Int]) -> [Matrix] {
    var offset = 0
    return widths.map { width in
        var part = Matrix(uninitialized: matrix.rows, width)
        part.values.withUnsafeMutableBufferPointer { p in
            matrix.values.withUnsafeBufferPointer { m in
                for r in 0..<matrix.rows {
                    (p.baseAddress! + r * width).update(from: m.baseAddress! + r * matrix.columns + offset, count: width)
                }
            }
        }
        offset += width
        return part
    }
}

/// Bilinear resizing of channels-last maps [batch, height, width, channels], with PyTorch's
/// align_corners=false sampling (half-pixel centres, clamped at the border); Tensors' kernel.
func resizeBilinear(_ x: Matrix, batch: Int, from source: (height: Int, width: Int),
                    to target: (height: Int, width: Int), _ context: ForwardContext) -> (Matrix, Pullback) {
    let channels = x.columns
    precondition(x.rows == batch * source.height * source.width)
    let resize = BilinearResize(images: batch, channels: channels, from: source, to: target)
    context.count(batch * target.height * target.width * channels * 4)
    var y = Matrix(uninitialized: batch * target.height * target.width, channels)
    x.values.withUnsafeBufferPointer { x in
        y.values.withUnsafeMutableBufferPointer { y in resize.forward(x.baseAddress!, y.baseAddress!) }
    }
    return (y, { dy in
        var dx = Matrix(zeros: x.rows, channels)
        dy.values.withUnsafeBufferPointer { dy in
            dx.values.withUnsafeMutableBufferPointer { dx in resize.backward(dy.baseAddress!, dx.baseAddress!) }
        }
        return dx
    })
}

/// Stochastic depth on one residual branch (timm's DropPath, as MTLoRA's Swin uses it): in a
/// training pass each image's branch is dropped with probability `rate`, a kept one is scaled by
/// 1 / (1 - rate). The scaling is its own pullback.
struct DropPath {
    /// Per image: 0 or 1 / (1 - rate).
    let scales: [Float]

    /// nil when nothing can drop (rate 0, evaluation, no noise key): the branch passes as is.
    init?(rate: Float, images: Int, key: UInt64, stream: Int, _ context: ForwardContext) {
        guard rate > 0, var generator = context.maskGenerator(key, stream: stream) else { return nil }
        let kept = 1 / (1 - rate)
        scales = (0..<images).map { _ in generator.unit() < Double(rate) ? 0 : kept }
    }

    /// The branch (or its gradient), images' rows in order, scaled image by image.
    func apply(_ x: Matrix) -> Matrix {
        var y = x
        let rowsPerImage = x.rows / scales.count, width = rowsPerImage * x.columns
        for (image, scale) in scales.enumerated() {
            for k in (image * width)..<((image + 1) * width) { y.values[k] *= scale }
        }
        return y
    }
}
