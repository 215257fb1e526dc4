import Foundation
import Tensors

/// Multi-head self-attention inside non-overlapping windows, with a learned relative position
/// bias and, for shifted windows, a mask that keeps tokens from attending across the seams the
/// cyclic shift creates (Swin, Liu et al. 2021).
public final class WindowAttention {
    public var qkv: any LinearLayer
    public var proj: any LinearLayer
    /// [(2w-1)², heads], timm's `relative_position_bias_table`.
    public let relativePositionBias: Parameter
    public let heads: Int
    public let window: Int
    let dim: Int
    /// For each (query, key) pair of a window, its row in the bias table.
    let relativeIndex: [Int32]

    init(name: String, dim: Int, heads: Int, window: Int, initializer: ParameterInitializer) {
        self.dim = dim; self.heads = heads; self.window = window
        qkv = Linear(name: name + ".qkv", inFeatures: dim, outFeatures: 3 * dim, role: .backbone, initializer: initializer)
        proj = Linear(name: name + ".proj", inFeatures: dim, outFeatures: dim, role: .backbone, initializer: initializer)
        let tableRows = (2 * window - 1) * (2 * window - 1)
        relativePositionBias = Parameter(
            name: name + ".relative_position_bias_table", shape: [tableRows, heads], role: .backbone, kind: .positionBias,
            initialValues: initializer.truncatedNormal(count: tableRows * heads, std: 0.02,
                                                       name: name + ".relative_position_bias_table"))
        relativeIndex = Self.relativePositionIndex(window: window)
    }

    public var parameters: [Parameter] { qkv.parameters + [relativePositionBias] + proj.parameters }

    static func relativePositionIndex(window w: Int) -> [Int32] {
        let n = w * w
        var index = [Int32](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                let dh = i / w - j / w + w - 1, dw = i % w - j % w + w - 1
                index[i * n + j] = Int32(dh * (2 * w - 1) + dw)
            }
        }
        return index
    }

    /// `x`: windowed tokens, rows ordered (window, token in window). `mask`, when shifted:
    /// [windows per image, n, n] of 0 / -100, repeated over the images of the batch.
    func forward(_ x: Matrix, windowsPerImage: Int, mask: [Float]?, _ context: ForwardContext) -> (Matrix, Pullback) {
        let (attended, attendPullback) = attend(x, windowsPerImage: windowsPerImage, mask: mask, context)
        let (projected, projPullback) = proj.forward(attended, context)
        return (projected, { attendPullback(projPullback($0)) })
    }

    /// The attention before its output projection: qkv, then softmax(q kᵀ / √d + bias + mask) v
    /// per window and head. MTLoRA's task streams branch at the projection that follows.
    func attend(_ x: Matrix, windowsPerImage: Int, mask: [Float]?, _ context: ForwardContext) -> (Matrix, Pullback) {
        let n = window * window
        let windows = x.rows / n
        let c = dim, headDim = dim / heads
        let scale = 1 / Float(headDim).squareRoot()
        let (qkvOut, qkvPullback) = qkv.forward(x, context)
        context.count(windows * heads * 2 * n * n * headDim)

        // The full [heads, n, n] bias for one window, gathered once from the table.
        var bias = [Float](repeating: 0, count: heads * n * n)
        for h in 0..<heads {
            for p in 0..<(n * n) { bias[h * n * n + p] = relativePositionBias.values[Int(relativeIndex[p]) * heads + h] }
        }
        var probabilities = [Float](repeating: 0, count: windows * heads * n * n)
        var attended = Matrix(uninitialized: x.rows, c)
        qkvOut.values.withUnsafeBufferPointer { qkv in
            probabilities.withUnsafeMutableBufferPointer { probabilities in
                attended.values.withUnsafeMutableBufferPointer { out in
                    parallelChunks(windows) { _, range in for w in range {
                        let tokens = qkv.baseAddress! + w * n * 3 * c
                        let windowMask = mask.map { ($0, (w % windowsPerImage) * n * n) }
                        for h in 0..<heads {
                            let p = probabilities.baseAddress! + (w * heads + h) * n * n
                            let q = tokens + h * headDim, k = tokens + c + h * headDim
                            gemm(transposeA: false, transposeB: true, m: n, n: n, k: headDim, alpha: scale,
                                 a: q, lda: 3 * c, b: k, ldb: 3 * c, beta: 0, c: p, ldc: n)
                            for pair in 0..<(n * n) {
                                p[pair] += bias[h * n * n + pair]
                                if let (mask, offset) = windowMask { p[pair] += mask[offset + pair] }
                            }
                            softmaxForward(p, p, rows: n, width: n)
                            let v = tokens + 2 * c + h * headDim
                            gemm(transposeA: false, transposeB: false, m: n, n: headDim, k: n,
                                 a: p, lda: n, b: v, ldb: 3 * c, beta: 0, c: out.baseAddress! + w * n * c + h * headDim, ldc: c)
                        }
                    } }
                }
            }
        }
        return (attended, { [relativePositionBias, relativeIndex, heads] dAttended in
            var dQKV = Matrix(uninitialized: x.rows, 3 * c)
            // The scores' gradient dS of every window and head is kept, and the bias gradient sums
            // it over the windows in window order, split by bias entry: the bits of a 1-thread run
            // at any thread count. One dP scratch per chunk.
            let chunks = max(1, min(ComputeThreads.current, windows))
            var scores = [Float](repeating: 0, count: windows * heads * n * n)
            var scratch = [Float](repeating: 0, count: chunks * n * n)
            qkvOut.values.withUnsafeBufferPointer { qkv in
                probabilities.withUnsafeBufferPointer { probabilities in
                    dAttended.values.withUnsafeBufferPointer { dOut in
                        dQKV.values.withUnsafeMutableBufferPointer { dQKV in
                          scores.withUnsafeMutableBufferPointer { scores in
                            scratch.withUnsafeMutableBufferPointer { scratch in
                              parallelChunks(windows) { chunk, range in
                                let dP = scratch.baseAddress! + chunk * n * n
                                for w in range {
                                    let tokens = qkv.baseAddress! + w * n * 3 * c
                                    let dTokens = dQKV.baseAddress! + w * n * 3 * c
                                    for h in 0..<heads {
                                        let p = probabilities.baseAddress! + (w * heads + h) * n * n
                                        let dS = scores.baseAddress! + (w * heads + h) * n * n
                                        let q = tokens + h * headDim, k = tokens + c + h * headDim, v = tokens + 2 * c + h * headDim
                                        let dO = dOut.baseAddress! + w * n * c + h * headDim
                                        // dP = dO Vᵀ, dV = Pᵀ dO
                                        gemm(transposeA: false, transposeB: true, m: n, n: n, k: headDim,
                                             a: dO, lda: c, b: v, ldb: 3 * c, beta: 0, c: dP, ldc: n)
                                        gemm(transposeA: true, transposeB: false, m: n, n: headDim, k: n,
                                             a: p, lda: n, b: dO, ldb: c, beta: 0, c: dTokens + 2 * c + h * headDim, ldc: 3 * c)
                                        // Softmax: dS = P ⊙ (dP − Σⱼ dP P); the bias adds to the scores.
                                        softmaxBackward(p, dP, dS, rows: n, width: n)
                                        // dQ = scale dS K, dK = scale dSᵀ Q
                                        gemm(transposeA: false, transposeB: false, m: n, n: headDim, k: n, alpha: scale,
                                             a: dS, lda: n, b: k, ldb: 3 * c, beta: 0, c: dTokens + h * headDim, ldc: 3 * c)
                                        gemm(transposeA: true, transposeB: false, m: n, n: headDim, k: n, alpha: scale,
                                             a: dS, lda: n, b: q, ldb: 3 * c, beta: 0, c: dTokens + c + h * headDim, ldc: 3 * c)
                                    }
                                }
                              }
                            }
                          }
                        }
                    }
                }
            }
            if let table = relativePositionBias.gradient {
                let entries = heads * n * n
                var windowSums = [Float](repeating: 0, count: entries)
                scores.withUnsafeBufferPointer { scores in
                    windowSums.withUnsafeMutableBufferPointer { sums in
                        parallelChunks(entries, minimumChunk: 256) { _, range in
                            for w in 0..<windows {
                                let window = scores.baseAddress! + w * entries
                                for entry in range { sums[entry] += window[entry] }
                            }
                        }
                    }
                }
                for h in 0..<heads {
                    for pair in 0..<(n * n) {
                        table[Int(relativeIndex[pair]) * heads + h] += windowSums[h * n * n + pair]
                    }
                }
            }
            return qkvPullback(dQKV)
        })
    }
}
