import Foundation
import Testing
@testable import Engine

/// `mtl-engine export`: synthetic scenes written in the real layouts and read back with the real
/// loaders give the labels the engine trains on (exactly) and its images (within 16 bits).
@Suite struct SyntheticExportTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")

    /// Checks every sample of `scenes` against the loader's reading of the export.
    func expectRoundTrip(_ scenes: SyntheticScenes, _ loaded: any MultiTaskDataset) throws {
        #expect(loaded.count == scenes.count)
        var invalidNormals = 0
        for index in 0..<scenes.count {
            let original = scenes.sample(at: index), read = try loaded.sample(at: index)
            let imageError = zip(original.rgb, read.rgb).map { abs($0 - $1) }.max()!
            #expect(imageError <= 1.0 / 131_070 + 1e-7, "image \(index): \(imageError)")
            for task in scenes.tasks {
                if let classes = original.labels.classes(task) {
                    #expect(read.labels.classes(task) == classes, "\(task.rawValue) of image \(index)")
                } else {
                    let values = original.labels.values(task)!, back = read.labels.values(task)!
                    // Unit normals move by the 16-bit step; a pixel without a label (zero vector) stays one.
                    #expect(zip(values, back).allSatisfy { abs($0 - $1) < 1e-4 }, "\(task.rawValue) of image \(index)")
                    guard task == .normals else { continue }
                    let plane = original.pixels
                    for pixel in 0..<plane {
                        let unlabelled = (0..<3).allSatisfy { values[$0 * plane + pixel] == 0 }
                        #expect(unlabelled == (0..<3).allSatisfy { back[$0 * plane + pixel] == 0 }, "normal \(pixel) of image \(index)")
                        if unlabelled { invalidNormals += 1 }
                    }
                }
            }
        }
        // Only outdoor scenes have sky, whose normals carry no label.
        if scenes.dataset == .pascal { #expect(invalidNormals > 0, "no sky pixel: the test checks nothing") }
    }

    @Test func pascalRoundTrip() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let train = SyntheticScenes(dataset: .pascal, split: .train, count: 6, height: 32, width: 32)
        let val = SyntheticScenes(dataset: .pascal, split: .val, count: 3, height: 32, width: 32)
        try SyntheticExport.write(train, to: root, threads: 2)
        try SyntheticExport.write(val, to: root)
        // Without a person, human parts are all "no label", and no file is written, as PASCAL_MT.
        let withoutPeople = (0..<6).filter { train.sample(at: $0).labels.humanParts!.allSatisfy { $0 == ignoreLabel } }
        #expect(!withoutPeople.isEmpty && withoutPeople.count < 6, "the test needs images with and without people")
        for index in withoutPeople {
            #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent(
                "human_parts/\(SyntheticExport.id(split: .train, index: index)).png").path))
        }
        for (scenes, split) in [(train, DataSplit.train), (val, .val)] {
            let loaded = try RealDataSets.open(.pascal, root: root, split: split, size: 32, tasks: scenes.tasks, limit: nil)
            try expectRoundTrip(scenes, loaded)
            // synthetic.json's classes, not PASCAL-Context's 21, so mtl-engine trains on the export.
            #expect(loaded.outputs(of: .semseg) == scenes.outputs(of: .semseg))
        }
        let metadata = try JSONDecoder().decode(SyntheticExport.Metadata.self,
                                                from: Data(contentsOf: root.appendingPathComponent(SyntheticExport.metadataFile)))
        #expect(metadata.splits == ["train": 6, "val": 3])
        #expect(metadata.classes["semseg"] == SyntheticScenes.semsegClasses(.pascal))
    }

    @Test func nyudRoundTrip() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let scenes = SyntheticScenes(dataset: .nyud, split: .val, count: 2, height: 32, width: 32)
        try SyntheticExport.write(scenes, to: root)
        let loaded = try RealDataSets.open(.nyud, root: root, split: .val, size: 32, tasks: scenes.tasks, limit: nil)
        try expectRoundTrip(scenes, loaded)
    }

    /// Without synthetic.json the layout is PASCAL-Context's 21 classes: a label beyond them
    /// stops the run before training with the image named, instead of trapping in the loss.
    @Test func labelsBeyondTheClassesAreErrors() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try SyntheticExport.write(SyntheticScenes(dataset: .pascal, split: .val, count: 4, height: 32, width: 32), to: root)
        try FileManager.default.removeItem(at: root.appendingPathComponent(SyntheticExport.metadataFile))
        #expect {
            try RealDataSets.open(.pascal, root: root, split: .val, size: 32, tasks: [.semseg], limit: nil)
        } throws: { error in
            "\(error)".contains("semseg label") && "\(error)".contains("outside the 21 classes of PASCAL-Context")
        }
    }

    @Test func refusesToMixExports() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try SyntheticExport.write(SyntheticScenes(dataset: .pascal, split: .train, count: 1, height: 32, width: 32), to: root)
        #expect(throws: DataFileError.self) {
            try SyntheticExport.write(SyntheticScenes(dataset: .pascal, split: .val, count: 1, height: 64, width: 64), to: root)
        }
    }
}
