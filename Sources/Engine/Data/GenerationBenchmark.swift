import Foundation

/// Measures how fast a data set produces samples (for docs/benchmarks.md; not a test).
public enum GenerationBenchmark {
    public struct Result: Sendable, CustomStringConvertible {
        public var images: Int
        public var threads: Int
        public var wallSeconds: Double
        public var cpuSeconds: Double

        public var imagesPerSecond: Double { Double(images) / wallSeconds }

        public var description: String {
            String(format: "%d images on %d thread(s): %.2f s wall, %.2f s CPU, %.0f images/s, %.2f ms CPU per image",
                   images, threads, wallSeconds, cpuSeconds, imagesPerSecond, 1000 * cpuSeconds / Double(images))
        }
    }

    /// Fills batches of 32 over the first `images` samples, optionally augmented.
    public static func measure(_ dataset: any MultiTaskDataset, images: Int, threads: Int,
                               augmentation: Augmentation? = nil) throws -> Result {
        let count = min(images, dataset.count)
        var batch = MultiTaskBatch(size: 0, height: dataset.height, width: dataset.width, tasks: dataset.tasks)
        let wallStart = Date(), cpuStart = clock()
        for start in stride(from: 0, to: count, by: 32) {
            try dataset.fill(&batch, indices: Array(start..<min(start + 32, count)), augmentation: augmentation,
                             epoch: 0, threads: threads)
        }
        return Result(images: count, threads: threads, wallSeconds: Date().timeIntervalSince(wallStart),
                      cpuSeconds: Double(clock() - cpuStart) / Double(CLOCKS_PER_SEC))
    }
}
