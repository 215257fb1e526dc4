import ArgumentParser
import Engine
import Foundation

/// Writes a few synthetic images with their labels as PNG, so a person can look at the data.
public struct SamplesCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "samples",
        abstract: "Write synthetic images and their labels as PNG files.",
        discussion: """
            Examples:
              mtl-engine samples --out /tmp/scenes
              mtl-engine samples --out /tmp/rooms --set nyud --count 4 --augment
              mtl-engine samples --out /tmp/objects --set upstream-22k --count 32
            """)

    @Option(help: "Where to write the PNG files.")
    public var out: String
    /// The scenes of a dense data set, or the upstream classification objects.
    public enum SampleSet: String, CaseIterable, ExpressibleByArgument {
        case pascal, nyud
        case upstream1k = "upstream-1k", upstream22k = "upstream-22k"

        /// The dense data set whose scenes this set is, if it is one.
        var dataset: DatasetName? { DatasetName(rawValue: rawValue) }
    }

    @Option(help: "Data set.")
    public var set: SampleSet = .pascal
    @Option(help: "How many images.")
    public var count: Int = 8
    @Option(help: "Image side in pixels.")
    public var size: Int = 64
    @Flag(help: "Apply the training augmentation (flip, scale, rotation) to scenes.")
    public var augment = false

    public init() {}

    public func run() throws {
        let directory = URL(fileURLWithPath: out)
        let augmentation = augment ? Augmentation.papers(seed: 0) : nil
        let written: [URL]
        switch set {
        case .pascal, .nyud:
            let scenes = SyntheticScenes(dataset: set.dataset!, split: .train, count: count, height: size, width: size)
            written = try SampleGallery.write(scenes, count: count, to: directory, augmentation: augmentation)
        case .upstream1k, .upstream22k:
            let objects = SyntheticObjects(variant: set == .upstream1k ? .imagenet1k : .imagenet22k, split: .train,
                                           count: count, height: size, width: size)
            written = try SampleGallery.write(objects, count: count, to: directory,
                                              classNames: objects.className)
        }
        print("wrote \(written.count) files to \(directory.path)")
    }
}
