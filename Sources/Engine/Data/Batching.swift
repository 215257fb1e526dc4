import Dispatch

/// A batch as the model consumes it: `images` is a contiguous `[B, 3, H, W]` normalised buffer
/// (`ImageNormalization`), `labels` stacks each task's maps along the batch axis.
public struct MultiTaskBatch: Sendable, Equatable {
    public var size: Int
    public var height: Int
    public var width: Int
    public var images: [Float]
    public var labels: DenseLabels
    /// The data-set indices the batch was filled from, in order.
    public var indices: [Int]

    public init(size: Int, height: Int, width: Int, tasks: [TaskName]) {
        self.size = size; self.height = height; self.width = width
        images = [Float](repeating: 0, count: size * 3 * height * width)
        labels = DenseLabels()
        indices = []
        let pixels = size * height * width
        for task in tasks {
            switch task.labelKind {
            case .classIndices, .binary: labels.setClasses(task, [UInt8](repeating: ignoreLabel, count: pixels))
            case .unitVectors: labels.setValues(task, [Float](repeating: 0, count: 3 * pixels))
            case .metres: labels.setValues(task, [Float](repeating: 0, count: pixels))
            }
        }
    }
}

/// A classification batch: `images` `[B, 3, H, W]` normalised, `labels` one class per image.
public struct ClassificationBatch: Sendable, Equatable {
    public var size: Int
    public var height: Int
    public var width: Int
    public var images: [Float]
    public var labels: [Int32]

    public init(size: Int, height: Int, width: Int) {
        self.size = size; self.height = height; self.width = width
        images = [Float](repeating: 0, count: size * 3 * height * width)
        labels = [Int32](repeating: 0, count: size)
    }
}

extension MultiTaskDataset {
    /// Fills `batch` with the samples at `indices` (augmented with `augmentation` seeded by
    /// (epoch, index), when given). Samples are produced on up to `threads` threads; the result
    /// does not depend on the thread count. The batch is reshaped when `indices.count` differs.
    public func fill(_ batch: inout MultiTaskBatch, indices: [Int], augmentation: Augmentation? = nil,
                     epoch: Int = 0, threads: Int = 1) throws {
        if batch.size != indices.count || batch.height != height || batch.width != width
            || batch.labels.tasks != tasks {
            batch = MultiTaskBatch(size: indices.count, height: height, width: width, tasks: tasks)
        }
        let samples = try concurrentMap(indices, threads: threads) { index in
            let sample = try self.sample(at: index)
            return augmentation?.apply(to: sample, epoch: epoch, index: index) ?? sample
        }
        batch.indices = indices
        let plane = height * width
        batch.images.withUnsafeMutableBufferPointer { images in
            for (b, sample) in samples.enumerated() {
                let slice = UnsafeMutableBufferPointer(rebasing: images[(b * 3 * plane)..<((b + 1) * 3 * plane)])
                ImageNormalization.normalize(sample.rgb, into: slice)
            }
        }
        for task in tasks {
            let channels = task.labelChannels * plane
            switch task.labelKind {
            case .classIndices, .binary:
                var stacked = batch.labels.classes(task)!
                for (b, sample) in samples.enumerated() {
                    stacked.replaceSubrange((b * channels)..<((b + 1) * channels), with: sample.labels.classes(task)!)
                }
                batch.labels.setClasses(task, stacked)
            case .unitVectors, .metres:
                var stacked = batch.labels.values(task)!
                for (b, sample) in samples.enumerated() {
                    stacked.replaceSubrange((b * channels)..<((b + 1) * channels), with: sample.labels.values(task)!)
                }
                batch.labels.setValues(task, stacked)
            }
        }
    }

    public func batch(indices: [Int], augmentation: Augmentation? = nil, epoch: Int = 0,
                      threads: Int = 1) throws -> MultiTaskBatch {
        var batch = MultiTaskBatch(size: indices.count, height: height, width: width, tasks: tasks)
        try fill(&batch, indices: indices, augmentation: augmentation, epoch: epoch, threads: threads)
        return batch
    }
}

extension ClassificationDataset {
    /// Fills `batch` with the samples at `indices`, optionally flipped horizontally at random
    /// (seeded by (epoch, index) through `augmentation`).
    public func fill(_ batch: inout ClassificationBatch, indices: [Int], augmentation: Augmentation? = nil,
                     epoch: Int = 0, threads: Int = 1) throws {
        if batch.size != indices.count || batch.height != height || batch.width != width {
            batch = ClassificationBatch(size: indices.count, height: height, width: width)
        }
        let samples = try concurrentMap(indices, threads: threads) { index in
            let sample = try self.sample(at: index)
            guard let augmentation else { return sample }
            var image = MultiTaskSample(height: sample.height, width: sample.width, rgb: sample.rgb, labels: DenseLabels())
            image = augmentation.apply(to: image, epoch: epoch, index: index)
            return ClassificationSample(height: sample.height, width: sample.width, rgb: image.rgb, label: sample.label)
        }
        let imageCount = 3 * height * width
        batch.images.withUnsafeMutableBufferPointer { images in
            for (b, sample) in samples.enumerated() {
                ImageNormalization.normalize(
                    sample.rgb, into: UnsafeMutableBufferPointer(rebasing: images[(b * imageCount)..<((b + 1) * imageCount)]))
            }
        }
        for (b, sample) in samples.enumerated() { batch.labels[b] = Int32(sample.label) }
    }

    public func batch(indices: [Int], augmentation: Augmentation? = nil, epoch: Int = 0,
                      threads: Int = 1) throws -> ClassificationBatch {
        var batch = ClassificationBatch(size: indices.count, height: height, width: width)
        try fill(&batch, indices: indices, augmentation: augmentation, epoch: epoch, threads: threads)
        return batch
    }
}

/// `transform` applied to every element on up to `threads` threads, results in input order.
/// Each element's result depends only on the element, so the thread count never changes the output.
func concurrentMap<Element: Sendable, Result: Sendable>(
    _ elements: [Element], threads: Int, _ transform: @Sendable (Element) throws -> Result
) throws -> [Result] {
    let workers = max(1, min(threads, elements.count))
    if workers == 1 { return try elements.map(transform) }
    let results = UnsafeMutableBufferPointer<Swift.Result<Result, any Error>?>.allocate(capacity: elements.count)
    results.initialize(repeating: nil)
    defer { results.deinitialize(); results.deallocate() }
    nonisolated(unsafe) let slots = results
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        // Strided assignment: every worker writes only its own slots.
        for i in stride(from: worker, to: elements.count, by: workers) {
            slots[i] = Swift.Result { try transform(elements[i]) }
        }
    }
    return try results.map { try $0!.get() }
}
