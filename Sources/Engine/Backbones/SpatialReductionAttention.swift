import Foundation
import Tensors

/// PVT-v2's attention (timm's `pvt_v2.Attention`, linear off): every token's query attends to
/// keys and values of a map reduced by a strided conv (`sr`, kernel = stride = the stage's
/// reduction) and a LayerNorm; a stage without reduction attends to the whole map. Queries come
/// from `q`, keys and values from `kv` (keys first, heads inside each).
public final class SpatialReductionAttention {
    public var q: any LinearLayer
    public var kv: any LinearLayer
    public var proj: any LinearLayer
    /// The key/value reduction and its norm; nil when the stage's reduction is 1.
    public let reduction: Conv2d?
    public let reductionNorm: LayerNorm?
    public let heads: Int
    let dim: Int

    init(name: String, dim: Int, heads: Int, spatialReduction: Int, initializer: ParameterInitializer) {
        self.dim = dim; self.heads = heads
        q = Linear(name: name + ".q", inFeatures: dim, outFeatures: dim, role: .backbone, initializer: initializer)
        kv = Linear(name: name + ".kv", inFeatures: dim, outFeatures: 2 * dim, role: .backbone, initializer: initializer)
        proj = Linear(name: name + ".proj", inFeatures: dim, outFeatures: dim, role: .backbone, initializer: initializer)
        if spatialReduction > 1 {
            reduction = Conv2d(name: name + ".sr", inChannels: dim, outChannels: dim, kernel: spatialReduction,
                               stride: spatialReduction, padding: 0, bias: true, role: .backbone, initializer: initializer)
            reductionNorm = LayerNorm(name: name + ".norm", features: dim, role: .backbone)
        } else {
            reduction = nil; reductionNorm = nil
        }
    }

    public var parameters: [Parameter] {
        q.parameters + kv.parameters + (reduction?.parameters ?? []) + (reductionNorm?.parameters ?? []) + proj.parameters
    }

    func forward(_ x: Matrix, batch: Int, side: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        let (attended, attendPullback) = attend(x, batch: batch, side: side, context)
        let (projected, projPullback) = proj.forward(attended, context)
        return (projected, { attendPullback(projPullback($0)) })
    }

    /// The attention before its output projection: softmax(q kᵀ / √d) v per image and head.
    /// MTLoRA's task streams branch at the projection that follows.
    func attend(_ x: Matrix, batch: Int, side: Int, _ context: ForwardContext) -> (Matrix, Pullback) {
        let n = side * side, c = dim, headDim = dim / heads
        let scale = 1 / Float(headDim).squareRoot()
        let (queries, qPullback) = q.forward(x, context)
        var keySource = x
        var reducePullback: Pullback?
        if let reduction, let reductionNorm {
            let (reduced, convPullback) = reduction.forward(x, batch: batch, height: side, width: side, context)
            let (normalized, normPullback) = reductionNorm.forward(reduced, context)
            keySource = normalized
            reducePullback = { convPullback(normPullback($0)) }
        }
        let m = keySource.rows / batch
        let (keyValues, kvPullback) = kv.forward(keySource, context)
        context.count(batch * heads * 2 * n * m * headDim)
        var probabilities = [Float](repeating: 0, count: batch * heads * n * m)
        var attended = Matrix(uninitialized: x.rows, c)
        queries.values.withUnsafeBufferPointer { queries in
            keyValues.values.withUnsafeBufferPointer { keyValues in
                probabilities.withUnsafeMutableBufferPointer { probabilities in
                    attended.values.withUnsafeMutableBufferPointer { out in
                        parallelChunks(batch) { _, images in for b in images {
                            for h in 0..<heads {
                                let p = probabilities.baseAddress! + (b * heads + h) * n * m
                                let q = queries.baseAddress! + b * n * c + h * headDim
                                let k = keyValues.baseAddress! + b * m * 2 * c + h * headDim
                                gemm(transposeA: false, transposeB: true, m: n, n: m, k: headDim, alpha: scale,
                                     a: q, lda: c, b: k, ldb: 2 * c, beta: 0, c: p, ldc: m)
                                softmaxForward(p, p, rows: n, width: m)
                                gemm(transposeA: false, transposeB: false, m: n, n: headDim, k: m,
                                     a: p, lda: m, b: k + c, ldb: 2 * c, beta: 0,
                                     c: out.baseAddress! + b * n * c + h * headDim, ldc: c)
                            }
                        } }
                    }
                }
            }
        }
        return (attended, { [heads] dAttended in
            var dQueries = Matrix(uninitialized: x.rows, c)
            var dKeyValues = Matrix(uninitialized: keySource.rows, 2 * c)
            let chunks = max(1, min(ComputeThreads.current, batch))
            // dP and dS scratch per chunk of images.
            var scratch = [Float](repeating: 0, count: chunks * 2 * n * m)
            queries.values.withUnsafeBufferPointer { queries in
                keyValues.values.withUnsafeBufferPointer { keyValues in
                    probabilities.withUnsafeBufferPointer { probabilities in
                        dAttended.values.withUnsafeBufferPointer { dOut in
                            dQueries.values.withUnsafeMutableBufferPointer { dQ in
                                dKeyValues.values.withUnsafeMutableBufferPointer { dKV in
                                    scratch.withUnsafeMutableBufferPointer { scratch in
                                        parallelChunks(batch) { chunk, images in
                                            let dP = scratch.baseAddress! + chunk * 2 * n * m, dS = dP + n * m
                                            for b in images {
                                                for h in 0..<heads {
                                                    let p = probabilities.baseAddress! + (b * heads + h) * n * m
                                                    let q = queries.baseAddress! + b * n * c + h * headDim
                                                    let k = keyValues.baseAddress! + b * m * 2 * c + h * headDim
                                                    let dO = dOut.baseAddress! + b * n * c + h * headDim
                                                    let dq = dQ.baseAddress! + b * n * c + h * headDim
                                                    let dk = dKV.baseAddress! + b * m * 2 * c + h * headDim
                                                    // dP = dO Vᵀ, dV = Pᵀ dO
                                                    gemm(transposeA: false, transposeB: true, m: n, n: m, k: headDim,
                                                         a: dO, lda: c, b: k + c, ldb: 2 * c, beta: 0, c: dP, ldc: m)
                                                    gemm(transposeA: true, transposeB: false, m: m, n: headDim, k: n,
                                                         a: p, lda: m, b: dO, ldb: c, beta: 0, c: dk + c, ldc: 2 * c)
                                                    // softmaxBackward adds into dS: clear the scratch first.
                                                    dS.update(repeating: 0, count: n * m)
                                                    softmaxBackward(p, dP, dS, rows: n, width: m)
                                                    // dQ = scale dS K, dK = scale dSᵀ Q
                                                    gemm(transposeA: false, transposeB: false, m: n, n: headDim, k: m,
                                                         alpha: scale, a: dS, lda: m, b: k, ldb: 2 * c, beta: 0, c: dq, ldc: c)
                                                    gemm(transposeA: true, transposeB: false, m: m, n: headDim, k: n,
                                                         alpha: scale, a: dS, lda: m, b: q, ldb: c, beta: 0, c: dk, ldc: 2 * c)
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
            let dKeySource = kvPullback(dKeyValues)
            let dx = qPullback(dQueries)
            return dx + (reducePullback.map { $0(dKeySource) } ?? dKeySource)
        })
    }
}
