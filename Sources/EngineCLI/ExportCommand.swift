import ArgumentParser
import Engine
import Foundation

/// Writes a split of the synthetic scenes in the real data set's on-disk layout, for another
/// engine to train on the same data (SyntheticExport; docs/data.md, "Exporting the synthetic scenes").
public struct ExportCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write synthetic scenes in the PASCAL-Context or NYUD-v2 layout (the real loaders read it back).",
        discussion: """
            The images and labels every run of that data set trains on (train) or is
            scored on (val), in the layout of docs/data.md "Real data layouts": PNG
            label maps, 16-bit PNG images, .npy depth. Export both splits into one
            directory:
              mtl-engine export --split train --count 256 --out /data/synth-pascal
              mtl-engine export --split val --count 512 --out /data/synth-pascal
            The default profile trains on the first 256 train images and scores the
            first 512 val images, at 64 px. synthetic.json beside the layout names
            the classes.
            """)

    @Option(help: "Data set.")
    public var dataset: DatasetName = .pascal
    @Option(help: "Split.")
    public var split: DataSplit = .train
    @Option(help: "How many images (the first N of the split).")
    public var count: Int
    @Option(help: "Image side in pixels (the run's image_size).")
    public var size: Int = 64
    @Option(help: "The data seed (0: the scenes every run trains on).")
    public var seed: UInt64 = 0
    @Option(help: "Threads that render and encode.")
    public var threads: Int = 1
    @Option(help: "Directory of the layout (created; both splits may share it).")
    public var out: String

    public init() {}

    public func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1, got \(count)") }
        guard size >= 8 else { throw ValidationError("--size must be at least 8, got \(size)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    public func run() throws {
        let scenes = SyntheticScenes(dataset: dataset, split: split,
                                     count: count, height: size, width: size, seed: seed)
        let root = URL(fileURLWithPath: out)
        let started = Date()
        do {
            let ids = try SyntheticExport.write(scenes, to: root, threads: threads)
            print("wrote \(ids.count) \(dataset.rawValue) \(split.rawValue) images (\(ids.first!) ... \(ids.last!)) at \(size) px to "
                  + "\(root.path) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        } catch let error as DataFileError {
            throw ValidationError(error.description)
        }
    }
}

extension DatasetName: ExpressibleByArgument {}
extension DataSplit: ExpressibleByArgument {}
