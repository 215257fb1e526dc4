import Foundation
import RunContract

/// One run's training curves, read from its `progress.jsonl`: the loss, each task's metric where
/// the engine records one, and the mean adapter rank, each at the end of every epoch. A run that
/// was resumed appended its later epochs to the same file; an epoch logged twice keeps its last line.
public struct RunCurves: Sendable, Equatable {
    /// In epoch order, one per epoch the run completed.
    public private(set) var epochs: [EpochEnd] = []

    public struct EpochEnd: Sendable, Equatable {
        public var epoch: Int
        public var loss: Double
        /// Mean rank over the run's adapters (less the ones that never learn), when it reports ranks.
        public var meanRank: Double?
        public var metrics: [String: Double]
    }

    /// `events`: the lines of `progress.jsonl` in file order. Only an epoch's last line counts
    /// (`step == steps`): lines within an epoch carry one step's loss, not the epoch's.
    public init(events: [ProgressEvent]) {
        var byEpoch: [Int: EpochEnd] = [:]
        for event in events where event.steps > 0 && event.step >= event.steps && event.epoch > 0
            && (event.phase == nil || event.phase == "train") {
            byEpoch[event.epoch] = EpochEnd(epoch: event.epoch, loss: event.loss,
                                            meanRank: Self.meanRank(event.ranks), metrics: event.metrics ?? [:])
        }
        epochs = byEpoch.keys.sorted().map { byEpoch[$0]! }
    }

    /// Reads `progress.jsonl` in `directory`; no file gives no curves.
    public init(runDirectory directory: URL) {
        self.init(events: ContractJSON.readProgress(at: directory.appendingPathComponent(RunFiles.progress)))
    }

    public var isEmpty: Bool { epochs.isEmpty }

    /// The tasks some epoch reports a metric for, sorted.
    public var tasks: [String] { Set(epochs.flatMap(\.metrics.keys)).sorted() }

    /// The run logs its adapters' ranks: engines log them where the ranks can change (FAAR's
    /// PDRS in `mtl-engine`). They may not change in the epochs logged: the first shrink comes
    /// before the first line, and a short run may have no other.
    public var hasRanks: Bool { epochs.contains { $0.meanRank != nil } }

    /// One value per epoch that has it: (epoch, value).
    public func series(_ value: (EpochEnd) -> Double?) -> [(epoch: Int, value: Double)] {
        epochs.compactMap { end in value(end).map { (end.epoch, $0) } }
    }

    private static func meanRank(_ ranks: [String: Int]?) -> Double? {
        guard let ranks, !ranks.isEmpty else { return nil }
        let left = Figures.untrainedAdapters(in: ranks.keys)
        let kept = ranks.filter { !left.contains($0.key) }.map(\.value)
        guard !kept.isEmpty else { return nil }
        return Double(kept.reduce(0, +)) / Double(kept.count)
    }
}

/// A line of block characters, one per value, from the lowest (▁) to the highest (█) value of the
/// series: a curve's shape in a terminal.
public enum Sparkline {
    static let blocks = Array("▁▂▃▄▅▆▇█")

    public static func text(_ values: [Double]) -> String {
        let finite = values.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max() else { return "" }
        return String(values.map { value -> Character in
            guard value.isFinite else { return " " }
            guard high > low else { return blocks[blocks.count / 2] }
            let level = Int(((value - low) / (high - low) * Double(blocks.count - 1)).rounded())
            return blocks[min(max(level, 0), blocks.count - 1)]
        })
    }
}
