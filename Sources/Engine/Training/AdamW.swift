import Foundation
import Tensors

/// What the optimizer sees of one trainable parameter: its values and gradient as flat buffers.
public struct ParameterSlot {
    public var name: String
    public var values: UnsafeMutableBufferPointer<Float>
    public var gradient: UnsafeMutableBufferPointer<Float>
    /// False for biases, norms and other 1-D parameters, which the papers exempt from weight decay.
    public var decays: Bool
    /// This parameter's learning rate over the schedule's (a PyTorch parameter group's lr
    /// multiplier); the decoder heads take `decoder_lr_scale`.
    public var learningRateScale: Float

    public init(name: String, values: UnsafeMutableBufferPointer<Float>,
                gradient: UnsafeMutableBufferPointer<Float>, decays: Bool, learningRateScale: Float = 1) {
        precondition(values.count == gradient.count, "\(name): gradient size differs from the values'")
        self.name = name; self.values = values; self.gradient = gradient; self.decays = decays
        self.learningRateScale = learningRateScale
    }
}

/// AdamW (Loshchilov & Hutter) with decoupled weight decay, PyTorch's update order and bias correction.
/// Moments live here, by parameter name, so a checkpoint can save and restore them.
public final class AdamW {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float
    /// Updates taken so far (bias correction uses it).
    public private(set) var step = 0
    private var moments: [String: Moments] = [:]

    /// One parameter's first and second moments, in buffers the parallel update writes through.
    private final class Moments {
        let first: UnsafeMutableBufferPointer<Float>, second: UnsafeMutableBufferPointer<Float>

        init(first: [Float], second: [Float]) {
            self.first = .allocate(capacity: first.count)
            self.second = .allocate(capacity: second.count)
            _ = self.first.initialize(from: first)
            _ = self.second.initialize(from: second)
        }

        deinit { first.deallocate(); second.deallocate() }
    }

    public init(weightDecay: Float) { self.weightDecay = weightDecay }

    public func update(_ parameters: [ParameterSlot], learningRate lr: Float) {
        step += 1
        let correction1 = 1 - pow(beta1, Float(step))
        let correction2 = 1 - pow(beta2, Float(step))
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        // The parameters laid end to end, so the threads split their elements evenly.
        var work: [(slot: ParameterSlot, moments: Moments, stepSize: Float, decayFactor: Float, start: Int)] = []
        var total = 0
        for parameter in parameters {
            let count = parameter.values.count
            let state = moments[parameter.name] ?? Moments(first: [Float](repeating: 0, count: count),
                                                           second: [Float](repeating: 0, count: count))
            moments[parameter.name] = state
            precondition(state.first.count == count,
                         "\(parameter.name): optimizer state has \(state.first.count) values, parameter \(count)")
            let lr = lr * parameter.learningRateScale
            work.append((parameter, state, lr / correction1, 1 - lr * weightDecay, total))
            total += count
        }
        let items = work
        // Per element: the decay, then PyTorch's update, 8 elements at a time. Every element is
        // computed by one thread as it is alone, so the split changes no bit.
        parallelChunks(total, minimumChunk: 1 << 14) { _, range in
            for item in items where item.start < range.upperBound && item.start + item.slot.values.count > range.lowerBound {
                let x = item.slot.values.baseAddress!, g = item.slot.gradient.baseAddress!
                let m = item.moments.first.baseAddress!, v = item.moments.second.baseAddress!
                let (stepSize, decayFactor, decays) = (item.stepSize, item.decayFactor, item.slot.decays)
                let elements = (max(range.lowerBound, item.start) - item.start)
                    ..< (min(range.upperBound, item.start + item.slot.values.count) - item.start)
                @inline(__always) func lanes(_ i: Int, _ valid: Int) {  // named: see forEachLanes
                    var xi = load8(x, i, valid)
                    if decays { xi *= decayFactor }
                    let gi = load8(g, i, valid)
                    let mi = b1 * load8(m, i, valid) + (1 - b1) * gi
                    let vi = b2 * load8(v, i, valid) + (1 - b2) * gi * gi
                    xi -= stepSize * mi / ((vi / correction2).squareRoot() + eps)
                    store8(mi, m, i, valid); store8(vi, v, i, valid); store8(xi, x, i, valid)
                }
                forEachLanes(elements, lanes)
            }
        }
    }

    /// The state to checkpoint, as named arrays plus the step count.
    public func state() -> (step: Int, tensors: [String: StoredTensor]) {
        var tensors: [String: StoredTensor] = [:]
        for (name, state) in moments {
            tensors["adamw.m." + name] = StoredTensor(shape: [state.first.count], values: Array(state.first))
            tensors["adamw.v." + name] = StoredTensor(shape: [state.second.count], values: Array(state.second))
        }
        return (step, tensors)
    }

    public func restore(step: Int, from tensors: [String: StoredTensor]) {
        self.step = step
        var first: [String: [Float]] = [:], second: [String: [Float]] = [:]
        for (name, tensor) in tensors {
            if name.hasPrefix("adamw.m.") { first[String(name.dropFirst(8))] = tensor.values }
            if name.hasPrefix("adamw.v.") { second[String(name.dropFirst(8))] = tensor.values }
        }
        moments = [:]
        for name in Set(first.keys).union(second.keys) {
            // A moment missing from the file starts at zero, as for a new parameter.
            let count = (first[name] ?? second[name]!).count
            moments[name] = Moments(first: first[name] ?? [Float](repeating: 0, count: count),
                                    second: second[name] ?? [Float](repeating: 0, count: count))
        }
    }
}

/// Scales all gradients together so their global L2 norm is at most `maxNorm` (PyTorch's
/// clip_grad_norm_, with the same 1e-6 guard). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [ParameterSlot], maxNorm: Double) -> Double {
    // Each parameter's sum of squares in Float, in element order, the parameters split over the
    // threads; the sums then add up in Double in parameter order (no bit depends on the threads).
    var partials = [Float](repeating: 0, count: parameters.count)
    partials.withUnsafeMutableBufferPointer { partials in
        parallelChunks(parameters.count) { _, range in
            for p in range {
                var partial: Float = 0
                for g in parameters[p].gradient { partial += g * g }
                partials[p] = partial
            }
        }
    }
    var sumOfSquares = 0.0
    for partial in partials { sumOfSquares += Double(partial) }
    let norm = sumOfSquares.squareRoot()
    guard maxNorm > 0, norm > maxNorm else { return norm }
    let scale = Float(maxNorm / (norm + 1e-6))
    for parameter in parameters {
        let gradient = parameter.gradient.baseAddress!
        parallelChunks(parameter.gradient.count, minimumChunk: 1 << 15) { _, range in
            for i in range { gradient[i] *= scale }
        }
    }
    return norm
}

/// Linear warm-up to the peak, then a cosine down to `minimum`, evaluated per iteration.
public struct WarmupCosineSchedule: Sendable {
    public var peak: Double
    public var minimum: Double
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(peak: Double, minimum: Double, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak; self.minimum = minimum
        self.warmupSteps = min(warmupSteps, totalSteps); self.totalSteps = totalSteps
    }

    /// The learning rate of 0-based iteration `step`.
    public func learningRate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(span))
        return minimum + 0.5 * (peak - minimum) * (1 + cos(Double.pi * progress))
    }
}
