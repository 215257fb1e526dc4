import Tensors

// The numerics of the low-rank branch: forward and backward side by side over contiguous row-major
// buffers, on OpenBLAS. Inputs are `rows` vectors (tokens), so x is rows x inputs. Only the first
// `active` components of the factors take part (PDRS's prefix mask); their rows of A are the
// first `active * inputs` values, their columns of B the first `active` of each row.

extension LowRankFactors {
    /// hidden = x A_b^T (rows x active); output (+)= scale * hidden B_b^T (rows x outputs).
    /// `hidden` is kept for the backward pass.
    public func forward(
        input x: UnsafePointer<Float>, rows: Int, active: Int, scale: Float,
        hidden: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        precondition((1...rank).contains(active), "active prefix \(active) outside 1...\(rank)")
        a.withUnsafeBufferPointer { a in
            gemm(transposeA: false, transposeB: true, m: rows, n: active, k: inputs,
                 a: x, lda: inputs, b: a.baseAddress!, ldb: inputs, beta: 0, c: hidden, ldc: active)
        }
        b.withUnsafeBufferPointer { b in
            gemm(transposeA: false, transposeB: true, m: rows, n: outputs, k: active, alpha: scale,
                 a: hidden, lda: active, b: b.baseAddress!, ldb: rank, beta: accumulate ? 1 : 0, c: output, ldc: outputs)
        }
    }

    /// Given dL/d(output) of `forward`, accumulates dL/dA and dL/dB of the active components into
    /// `gradient` (same shape as `self`) and, when given, dL/dx into `inputGradient`.
    /// `scratch` holds rows x active values.
    public func backward(
        input x: UnsafePointer<Float>, rows: Int, active: Int, scale: Float,
        hidden: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        gradient: inout LowRankFactors, inputGradient dx: UnsafeMutablePointer<Float>?,
        scratch dHidden: UnsafeMutablePointer<Float>
    ) {
        precondition(gradient.rank == rank && gradient.inputs == inputs && gradient.outputs == outputs,
                     "gradient factors must have the shape of the factors")
        b.withUnsafeBufferPointer { b in
            // dHidden = scale * dy B_b
            gemm(transposeA: false, transposeB: false, m: rows, n: active, k: outputs, alpha: scale,
                 a: dy, lda: outputs, b: b.baseAddress!, ldb: rank, beta: 0, c: dHidden, ldc: active)
        }
        gradient.b.withUnsafeMutableBufferPointer { gradB in
            // dB_b += scale * dy^T hidden
            gemm(transposeA: true, transposeB: false, m: outputs, n: active, k: rows, alpha: scale,
                 a: dy, lda: outputs, b: hidden, ldb: active, beta: 1, c: gradB.baseAddress!, ldc: rank)
        }
        gradient.a.withUnsafeMutableBufferPointer { gradA in
            // dA_b += dHidden^T x
            gemm(transposeA: true, transposeB: false, m: active, n: inputs, k: rows,
                 a: dHidden, lda: active, b: x, ldb: inputs, beta: 1, c: gradA.baseAddress!, ldc: inputs)
        }
        if let dx {
            a.withUnsafeBufferPointer { a in
                // dx += dHidden A_b
                gemm(transposeA: false, transposeB: false, m: rows, n: inputs, k: active,
                     a: dHidden, lda: active, b: a.baseAddress!, ldb: inputs, beta: 1, c: dx, ldc: inputs)
            }
        }
    }

    /// W + scale * B_b A_b (outputs x inputs) for a frozen W of the same shape.
    public func adaptedWeight(_ weight: UnsafePointer<Float>, active: Int, scale: Float) -> [Float] {
        var merged = Array(UnsafeBufferPointer(start: weight, count: outputs * inputs))
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                gemm(transposeA: false, transposeB: false, m: outputs, n: inputs, k: active, alpha: scale,
                     a: b.baseAddress!, lda: rank, b: a.baseAddress!, ldb: inputs, beta: 1, c: &merged, ldc: inputs)
            }
        }
        return merged
    }
}
