import Foundation
import RunContract
import Tensors

// Accumulators for the papers' metrics over a validation set, on plain buffers. Model outputs
// come as [B, C, H, W]; labels in the `DenseLabels` layouts.

/// Pooled confusion counts for semseg and human_parts: mIoU over the whole val set, pixels
/// labelled 255 ignored, classes absent from both predictions and labels left out of the mean.
/// (MTLoRA's code averages such classes in as 0; on the real val sets every class occurs, so the
/// two agree there.)
public struct ConfusionMatrix: Sendable, Equatable {
    public let classes: Int
    /// counts[target * classes + prediction].
    public private(set) var counts: [Int]

    public init(classes: Int) {
        precondition(classes > 0 && classes <= 255)
        self.classes = classes
        counts = [Int](repeating: 0, count: classes * classes)
    }

    /// Adds class predictions and labels of the same pixels.
    public mutating func add(predictions: [UInt8], targets: [UInt8]) {
        precondition(predictions.count == targets.count, "predictions and targets differ in size")
        for (prediction, target) in zip(predictions, targets) where target != ignoreLabel {
            precondition(Int(target) < classes && Int(prediction) < classes,
                         "class index \(max(target, prediction)) outside 0..<\(classes)")
            counts[Int(target) * classes + Int(prediction)] += 1
        }
    }

    /// Adds logits `[B, K, H, W]` (argmax over K, the first maximum wins) against labels `[B, H, W]`.
    public mutating func add(logits: [Float], targets: [UInt8], pixelsPerImage plane: Int) {
        precondition(plane > 0 && targets.count % plane == 0, "labels must be [B, H, W] with H*W = \(plane)")
        precondition(logits.count == targets.count * classes, "logits must be [B, \(classes), H, W]")
        var predictions = [UInt8](repeating: 0, count: targets.count)
        for b in 0..<(targets.count / plane) {
            let base = b * classes * plane
            for i in 0..<plane {
                var best = logits[base + i], bestClass = 0
                for k in 1..<classes where logits[base + k * plane + i] > best {
                    best = logits[base + k * plane + i]
                    bestClass = k
                }
                predictions[b * plane + i] = UInt8(bestClass)
            }
        }
        add(predictions: predictions, targets: targets)
    }

    public mutating func merge(_ other: ConfusionMatrix) {
        precondition(other.classes == classes)
        for i in counts.indices { counts[i] += other.counts[i] }
    }

    /// IoU per class, nil for classes absent from both predictions and labels.
    public var classIoU: [Double?] {
        (0..<classes).map { k in
            let truePositive = counts[k * classes + k]
            var predicted = 0, actual = 0
            for j in 0..<classes {
                predicted += counts[j * classes + k]
                actual += counts[k * classes + j]
            }
            let union = predicted + actual - truePositive
            return union == 0 ? nil : Double(truePositive) / Double(union)
        }
    }

    /// Mean IoU in %.
    public var meanIoU: Double {
        let present = classIoU.compactMap { $0 }
        return present.isEmpty ? 0 : 100 * present.reduce(0, +) / Double(present.count)
    }

    /// Pixel accuracy in %.
    public var pixelAccuracy: Double {
        let total = counts.reduce(0, +)
        let correct = (0..<classes).reduce(0) { $0 + counts[$1 * classes + $1] }
        return total == 0 ? 0 : 100 * Double(correct) / Double(total)
    }
}

/// Saliency as MTLoRA evaluates it: for each of 15 thresholds evenly spaced in [0.2, 0.9], the
/// IoU of (probability > threshold) with the label per image, averaged over images; the result
/// is the best threshold's mean. An image where both masks are empty scores 1. Pixels labelled
/// 255 are left out.
public struct SaliencyMeter: Sendable, Equatable {
    public static let thresholds: [Float] = (0..<15).map { 0.2 + 0.7 * Float($0) / 14 }

    /// Sum over images of the IoU at each threshold.
    public private(set) var iouSums = [Double](repeating: 0, count: SaliencyMeter.thresholds.count)
    public private(set) var images = 0

    public init() {}

    /// Adds probabilities `[B, 1, H, W]` in [0, 1] against binary labels `[B, H, W]`.
    public mutating func add(probabilities: [Float], targets: [UInt8], pixelsPerImage plane: Int) {
        precondition(plane > 0 && targets.count % plane == 0 && probabilities.count == targets.count,
                     "probabilities and labels must both be [B, H, W] with H*W = \(plane)")
        for b in 0..<(targets.count / plane) {
            for (t, threshold) in Self.thresholds.enumerated() {
                var intersection = 0, union = 0
                for i in (b * plane)..<((b + 1) * plane) where targets[i] != ignoreLabel {
                    let predicted = probabilities[i] > threshold, actual = targets[i] == 1
                    if predicted && actual { intersection += 1 }
                    if predicted || actual { union += 1 }
                }
                iouSums[t] += union == 0 ? 1 : Double(intersection) / Double(union)
            }
            images += 1
        }
    }

    /// Adds logits (the model's raw single-channel output), through the logistic function.
    public mutating func add(logits: [Float], targets: [UInt8], pixelsPerImage plane: Int) {
        add(probabilities: logits.map { 1 / (1 + exp(-$0)) }, targets: targets, pixelsPerImage: plane)
    }

    public mutating func merge(_ other: SaliencyMeter) {
        for t in iouSums.indices { iouSums[t] += other.iouSums[t] }
        images += other.images
    }

    /// Mean IoU per threshold, in %.
    public var meanIoUPerThreshold: [Double] { iouSums.map { images == 0 ? 0 : 100 * $0 / Double(images) } }

    /// The best threshold's mean IoU, in %.
    public var maxMeanIoU: Double { meanIoUPerThreshold.max() ?? 0 }
}

/// Surface normals: the mean angle in degrees between the L2-normalised prediction and the
/// label over valid pixels (labels not all zero), pooled over the val set.
public struct NormalsMeter: Sendable, Equatable {
    public private(set) var angleSum: Double = 0
    public private(set) var pixels = 0
    /// Pixels within 11.25°, 22.5° and 30° (the usual accuracy columns).
    public private(set) var within = [0, 0, 0]

    public init() {}

    /// Adds predictions `[B, 3, H, W]` against labels `[B, 3, H, W]`.
    public mutating func add(predictions: [Float], targets: [Float], pixelsPerImage plane: Int) {
        precondition(plane > 0 && targets.count % (3 * plane) == 0 && predictions.count == targets.count,
                     "predictions and labels must both be [B, 3, H, W] with H*W = \(plane)")
        for b in 0..<(targets.count / (3 * plane)) {
            let base = 3 * b * plane
            for i in 0..<plane {
                let tx = targets[base + i], ty = targets[base + plane + i], tz = targets[base + 2 * plane + i]
                guard tx != 0 || ty != 0 || tz != 0 else { continue }
                let px = predictions[base + i], py = predictions[base + plane + i], pz = predictions[base + 2 * plane + i]
                let norm = (Double(px) * Double(px) + Double(py) * Double(py) + Double(pz) * Double(pz)).squareRoot()
                let targetNorm = (Double(tx) * Double(tx) + Double(ty) * Double(ty) + Double(tz) * Double(tz)).squareRoot()
                // A zero prediction has no direction: 90° from everything, as in MTLoRA's code.
                let cosine = norm == 0 ? 0
                    : (Double(px) * Double(tx) + Double(py) * Double(ty) + Double(pz) * Double(tz)) / (norm * targetNorm)
                let degrees = acos(min(max(cosine, -1), 1)) * 180 / .pi
                angleSum += degrees
                pixels += 1
                for (k, limit) in [11.25, 22.5, 30].enumerated() where degrees < limit { within[k] += 1 }
            }
        }
    }

    public mutating func merge(_ other: NormalsMeter) {
        angleSum += other.angleSum
        pixels += other.pixels
        for k in within.indices { within[k] += other.within[k] }
    }

    /// Mean angular error in degrees.
    public var meanAngle: Double { pixels == 0 ? 0 : angleSum / Double(pixels) }

    /// Percent of valid pixels within 11.25°, 22.5°, 30°.
    public var accuracies: [Double] { within.map { pixels == 0 ? 0 : 100 * Double($0) / Double(pixels) } }
}

/// Depth: RMSE in metres over valid pixels (label > 0), pooled over the val set.
public struct DepthMeter: Sendable, Equatable {
    public private(set) var squaredErrorSum: Double = 0
    public private(set) var logSquaredErrorSum: Double = 0
    public private(set) var pixels = 0

    public init() {}

    /// Adds predictions `[B, 1, H, W]` against labels `[B, H, W]`.
    public mutating func add(predictions: [Float], targets: [Float]) {
        precondition(predictions.count == targets.count, "predictions and labels differ in size")
        for (prediction, target) in zip(predictions, targets) where target > 0 {
            let error = Double(prediction) - Double(target)
            squaredErrorSum += error * error
            let logError = log(max(Double(prediction), 1e-9)) - log(Double(target))
            logSquaredErrorSum += logError * logError
            pixels += 1
        }
    }

    public mutating func merge(_ other: DepthMeter) {
        squaredErrorSum += other.squaredErrorSum
        logSquaredErrorSum += other.logSquaredErrorSum
        pixels += other.pixels
    }

    public var rmse: Double { pixels == 0 ? 0 : (squaredErrorSum / Double(pixels)).squareRoot() }
    public var logRMSE: Double { pixels == 0 ? 0 : (logSquaredErrorSum / Double(pixels)).squareRoot() }
}

/// One task's accumulator, chosen by the task, fed with the model's raw outputs.
public enum TaskEvaluator: Sendable, Equatable {
    case segmentation(TaskName, ConfusionMatrix)
    case saliency(SaliencyMeter)
    case normals(NormalsMeter)
    case depth(DepthMeter)

    /// `outputs`: channels of the task's head (classes for segmentation).
    public init(task: TaskName, outputs: Int) {
        switch task {
        case .semseg, .humanParts: self = .segmentation(task, ConfusionMatrix(classes: outputs))
        case .saliency: self = .saliency(SaliencyMeter())
        case .normals: self = .normals(NormalsMeter())
        case .depth: self = .depth(DepthMeter())
        }
    }

    public var task: TaskName {
        switch self {
        case .segmentation(let task, _): return task
        case .saliency: return .saliency
        case .normals: return .normals
        case .depth: return .depth
        }
    }

    /// How a head's output is laid out: `[B, C, H, W]`, or pixel-major `[B, H, W, C]` (a
    /// `[B*H*W, C]` matrix, as the engine's heads produce).
    public enum OutputLayout: Sendable {
        case channelsFirst, channelsLast
    }

    /// Adds the head's output for a batch: logits for segmentation and saliency, raw vectors for
    /// normals, metres for depth.
    public mutating func add(output: [Float], layout: OutputLayout = .channelsFirst, labels: DenseLabels,
                             pixelsPerImage plane: Int) {
        var output = output
        if layout == .channelsLast {
            let pixels = labels.classes(task)?.count ?? labels.values(task)!.count / task.labelChannels
            output = Self.channelsFirst(output, channels: output.count / pixels, pixelsPerImage: plane)
        }
        switch self {
        case .segmentation(let task, var matrix):
            matrix.add(logits: output, targets: labels.classes(task)!, pixelsPerImage: plane)
            self = .segmentation(task, matrix)
        case .saliency(var meter):
            meter.add(logits: output, targets: labels.saliency!, pixelsPerImage: plane)
            self = .saliency(meter)
        case .normals(var meter):
            meter.add(predictions: output, targets: labels.normals!, pixelsPerImage: plane)
            self = .normals(meter)
        case .depth(var meter):
            meter.add(predictions: output, targets: labels.depth!)
            self = .depth(meter)
        }
    }

    /// An evaluator of the same task and outputs that has seen nothing.
    public var emptied: TaskEvaluator {
        switch self {
        case .segmentation(let task, let matrix): return .segmentation(task, ConfusionMatrix(classes: matrix.classes))
        case .saliency: return .saliency(SaliencyMeter())
        case .normals: return .normals(NormalsMeter())
        case .depth: return .depth(DepthMeter())
        }
    }

    /// Adds what `other`, an evaluator of the same task, has seen.
    public mutating func merge(_ other: TaskEvaluator) {
        switch (self, other) {
        case (.segmentation(let task, var matrix), .segmentation(_, let more)): matrix.merge(more); self = .segmentation(task, matrix)
        case (.saliency(var meter), .saliency(let more)): meter.merge(more); self = .saliency(meter)
        case (.normals(var meter), .normals(let more)): meter.merge(more); self = .normals(meter)
        case (.depth(var meter), .depth(let more)): meter.merge(more); self = .depth(meter)
        default: preconditionFailure("merging evaluators of \(task.rawValue) and \(other.task.rawValue)")
        }
    }

    /// `[B, H*W, C]` -> `[B, C, H*W]`.
    static func channelsFirst(_ values: [Float], channels: Int, pixelsPerImage plane: Int) -> [Float] {
        guard channels > 1 else { return values }
        var out = [Float](repeating: 0, count: values.count)
        for b in 0..<(values.count / (channels * plane)) {
            let base = b * channels * plane
            for p in 0..<plane {
                for c in 0..<channels { out[base + c * plane + p] = values[base + p * channels + c] }
            }
        }
        return out
    }

    /// The headline metric in the papers' units.
    public var value: Double {
        switch self {
        case .segmentation(_, let matrix): return matrix.meanIoU
        case .saliency(let meter): return meter.maxMeanIoU
        case .normals(let meter): return meter.meanAngle
        case .depth(let meter): return meter.rmse
        }
    }

    public var metric: TaskMetric {
        TaskMetric(name: task.metricName, value: value, direction: task.direction)
    }

    /// Secondary numbers for metrics.json's `extra`, keyed "<task>_<name>".
    public var extra: [String: Double] {
        let prefix = task.rawValue
        switch self {
        case .segmentation(_, let matrix): return ["\(prefix)_pixel_accuracy": matrix.pixelAccuracy]
        case .saliency: return [:]
        case .normals(let meter):
            let accuracies = meter.accuracies
            return ["\(prefix)_within_11_25": accuracies[0], "\(prefix)_within_22_5": accuracies[1],
                    "\(prefix)_within_30": accuracies[2]]
        case .depth(let meter): return ["\(prefix)_log_rmse": meter.logRMSE]
        }
    }
}

/// How much a metric moves with the choice of validation images: the sample std of the metric
/// over bootstrap resamples of the images (drawn with replacement, as many as there are), from
/// one evaluator per image. A difference between two models smaller than about twice this is
/// within what another draw of the validation set could give.
public func bootstrapStd(_ perImage: [TaskEvaluator], resamples: Int = 200, seed: UInt64 = 0xB007) -> Double {
    guard perImage.count > 1, resamples > 1 else { return 0 }
    var random = SeededRandom(seed: seed)
    var values: [Double] = []
    for _ in 0..<resamples {
        var total = perImage[random.nextInt(below: perImage.count)]
        for _ in 1..<perImage.count { total.merge(perImage[random.nextInt(below: perImage.count)]) }
        values.append(total.value)
    }
    let mean = values.reduce(0, +) / Double(values.count)
    return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
}
