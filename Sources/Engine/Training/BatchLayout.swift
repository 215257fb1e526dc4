import Foundation
import Tensors

/// The order in which an epoch visits the training set: a permutation that depends only on
/// (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
func epochOrder(count: Int, seed: Int, epoch: Int) -> [Int] {
    var order = Array(0..<count)
    var generator = SeededRandom(seed: UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9 ^ stableHash("epoch-order")
                               ^ UInt64(epoch) &* 0xD1B5_4A32_D192_ED03)
    for i in stride(from: count - 1, to: 0, by: -1) {
        let j = Int(generator.next() % UInt64(i + 1))
        order.swapAt(i, j)
    }
    return order
}

/// Batch `step` of an epoch: `batchSize` consecutive entries of the epoch's order.
func batchIndices(step: Int, batchSize: Int, count: Int, seed: Int, epoch: Int) -> [Int] {
    let order = epochOrder(count: count, seed: seed, epoch: epoch)
    return Array(order[(step * batchSize)..<min(count, (step + 1) * batchSize)])
}

/// [batch, 3, height, width] images (the data sets' layout) as the model's channels-last rows.
public func channelsLastImages(_ nchw: [Float], batch: Int, height: Int, width: Int) -> Matrix {
    let plane = height * width
    var rows = Matrix(zeros: batch * plane, 3)
    rows.values.withUnsafeMutableBufferPointer { rows in
        nchw.withUnsafeBufferPointer { source in
            for b in 0..<batch {
                for c in 0..<3 {
                    let channel = source.baseAddress! + (b * 3 + c) * plane
                    for p in 0..<plane { rows[(b * plane + p) * 3 + c] = channel[p] }
                }
            }
        }
    }
    return rows
}

extension DenseLabels {
    /// The labels of `task` in the losses' per-pixel layout: class indices and saliency as Float
    /// (255 kept as the ignore value), normals interleaved per pixel, depth as is.
    func lossLabels(for task: TaskName, batch: Int, plane: Int) -> [Float] {
        switch task.labelKind {
        case .classIndices, .binary:
            return classes(task)!.map(Float.init)
        case .metres:
            return values(task)!
        case .unitVectors:
            let planar = values(task)!
            var interleaved = [Float](repeating: 0, count: planar.count)
            for b in 0..<batch {
                for c in 0..<3 {
                    for p in 0..<plane { interleaved[(b * plane + p) * 3 + c] = planar[(b * 3 + c) * plane + p] }
                }
            }
            return interleaved
        }
    }

    /// Whether any pixel of the batch has a label for `task`, as the losses read them: a class or
    /// saliency value other than 255, a non-zero normal, a positive depth.
    func hasLabelledPixel(for task: TaskName) -> Bool {
        switch task.labelKind {
        case .classIndices, .binary: return classes(task)!.contains { $0 != 255 }
        case .metres: return values(task)!.contains { $0 > 0 }
        case .unitVectors: return values(task)!.contains { $0 != 0 }
        }
    }
}
