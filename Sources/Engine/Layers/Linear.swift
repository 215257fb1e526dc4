import Foundation
import Tensors

/// A layer that maps rows of `inFeatures` to rows of `outFeatures`. Every adaptable linear of
/// the backbone (qkv, proj, fc1, fc2, the patch-merging reduction) is held through this protocol,
/// so an adapter can wrap it (LoRA: `y = base(x) + s B A x`) without the frozen layer knowing.
public protocol LinearLayer: AnyObject {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback)
    /// Every parameter of the layer, the wrapped layer's included.
    var parameters: [Parameter] { get }
    /// MTLoRA's task streams through the layer ('matrix' mode): the output of the shared stream
    /// and of each of `taskCount` task streams, every frozen path reading the shared input.
    /// `taskInputs` nil: the task streams start here, from the shared input. The pullback takes
    /// the gradients of the shared and task outputs and returns those of the shared and task
    /// inputs (none for task streams that start here).
    func forward(shared x: Matrix, taskInputs: [Matrix]?, taskCount: Int, _ context: ForwardContext)
        -> (shared: Matrix, tasks: [Matrix], pullback: StreamPullback)
}

/// From the gradients of a layer's shared and task outputs to those of its shared and task inputs.
public typealias StreamPullback = (_ shared: Matrix, _ tasks: [Matrix]) -> (shared: Matrix, tasks: [Matrix])

extension LinearLayer {
    /// A layer without task modules is its frozen path: every task stream gets the shared output,
    /// and its task inputs get no gradient.
    public func forward(shared x: Matrix, taskInputs: [Matrix]?, taskCount: Int, _ context: ForwardContext)
        -> (shared: Matrix, tasks: [Matrix], pullback: StreamPullback)
    {
        let (y, pullback) = forward(x, context)
        return (y, Array(repeating: y, count: taskCount), { dShared, dTasks in
            (pullback(dTasks.reduce(dShared, +)), (taskInputs ?? []).map { Matrix(zeros: $0.rows, $0.columns) })
        })
    }
}

/// y = x Wᵀ + b with W stored [out, in] as in PyTorch, so timm weights load unchanged.
public final class Linear: LinearLayer {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int

    /// `weightShape` keeps a convolution's stored shape ([out, in, kh, kw]) for its file name's sake.
    public init(name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true, role: ParameterRole,
                initializer: ParameterInitializer, weightShape: [Int]? = nil) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        weight = Parameter(name: name + ".weight", shape: weightShape ?? [outFeatures, inFeatures], role: role,
                           initialValues: initializer.layerWeight(count: outFeatures * inFeatures, fanIn: inFeatures,
                                                                  role: role, name: name + ".weight"))
        self.bias = bias ? Parameter(name: name + ".bias", shape: [outFeatures], role: role, kind: .bias,
                                     initialValues: initializer.layerBias(count: outFeatures, fanIn: inFeatures,
                                                                          role: role, name: name + ".bias")) : nil
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func forward(_ x: Matrix, _ context: ForwardContext) -> (Matrix, Pullback) {
        precondition(x.columns == inFeatures, "\(weight.name): input has \(x.columns) columns, expected \(inFeatures)")
        let rows = x.rows, n = outFeatures, k = inFeatures
        context.count(rows * n * k)
        var y = Matrix(uninitialized: rows, n)
        if let bias {
            y.values.withUnsafeMutableBufferPointer { y in
                for r in 0..<rows { (y.baseAddress! + r * n).update(from: bias.values.baseAddress!, count: n) }
            }
        }
        x.values.withUnsafeBufferPointer { x in
            y.values.withUnsafeMutableBufferPointer { y in
                gemm(transposeA: false, transposeB: true, m: rows, n: n, k: k,
                     a: x.baseAddress!, lda: k, b: weight.values.baseAddress!, ldb: k, beta: bias == nil ? 0 : 1, c: y.baseAddress!, ldc: n)
            }
        }
        return (y, { [weight, bias] dy in
            var dx = Matrix(uninitialized: rows, k)
            dy.values.withUnsafeBufferPointer { dy in
                x.values.withUnsafeBufferPointer { x in
                    dx.values.withUnsafeMutableBufferPointer { dx in
                        let dy = dy.baseAddress!, x = x.baseAddress!, dx = dx.baseAddress!
                        // The parameter gradients and the input gradient are independent GEMMs of
                        // equal size: side by side, each on one thread, rather than one after the
                        // other on all threads (small GEMMs split poorly).
                        ComputeThreads.spread(weight.gradient == nil && bias?.gradient == nil ? 1 : 2) { part in
                            if part == 1 {
                                if let gradient = weight.gradient {
                                    gemm(transposeA: true, transposeB: false, m: n, n: k, k: rows,
                                         a: dy, lda: n, b: x, ldb: k, beta: 1, c: gradient.baseAddress!, ldc: k)
                                }
                                if let gradient = bias?.gradient { addColumnSums(of: dy, rows: rows, columns: n, into: gradient) }
                                return
                            }
                            gemm(transposeA: false, transposeB: false, m: rows, n: k, k: n,
                                 a: dy, lda: n, b: weight.values.baseAddress!, ldb: k, beta: 0, c: dx, ldc: k)
                        }
                    }
                }
            }
            return dx
        })
    }
}

/// gradient[c] += the sum of column c over the rows, in row order: 8 columns at a time and
/// columns split over the threads, which changes no bit.
func addColumnSums(of m: UnsafePointer<Float>, rows: Int, columns: Int, into gradient: UnsafeMutableBufferPointer<Float>) {
    let sums = gradient.baseAddress!
    parallelChunks(columns, minimumChunk: max(8, (1 << 15) / max(1, rows))) { _, range in
        for r in 0..<rows {
            forEachLanes(range) { c, valid in store8(load8(sums, c, valid) + load8(m + r * columns, c, valid), sums, c, valid) }
        }
    }
}
