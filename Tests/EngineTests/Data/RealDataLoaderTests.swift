import Foundation
import RunContract
import Testing
@testable import Engine

/// Builds tiny data sets in the PASCAL-Context and NYUD-v2 layouts and loads them.
@Suite struct RealDataLoaderTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("layouts-\(UUID().uuidString)")

    func write(_ data: Data, _ path: String) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    /// A 4x2 image, wider than tall; every file is 4 wide, 2 high.
    func writePascal() throws {
        try write(Data("a\nb\n\n".utf8), "ImageSets/Context/val.txt")
        for id in ["a", "b"] {
            try write(PNG.encode(width: 4, height: 2, channels: 3, pixels: [UInt8](repeating: 200, count: 24)),
                      "JPEGImages/\(id).png")
            // Palette semseg, as VOC's maps are: classes 0, 15, 15, 255 / 1, 1, 0, 0.
            var palette = [UInt8](repeating: 0, count: 256 * 3)
            palette[45] = 192
            try write(PNG.encode(width: 4, height: 2, indices: [0, 15, 15, 255, 1, 1, 0, 0], palette: palette),
                      "semseg/VOC12/\(id).png")
            try write(PNG.encode(width: 4, height: 2, channels: 1, pixels: [0, 255, 200, 0, 0, 0, 100, 0]),
                      "sal_distill/\(id).png")
            // Normals: (255, 128, 128) -> (+1, ~0, ~0); (128, 128, 255) -> toward the camera.
            var normals: [UInt8] = []
            for x in 0..<8 { normals += x % 2 == 0 ? [255, 128, 128] : [128, 128, 255] }
            try write(PNG.encode(width: 4, height: 2, channels: 3, pixels: normals), "normals_distill/\(id).png")
        }
        // Only image a has people.
        try write(PNG.encode(width: 4, height: 2, channels: 1, pixels: [0, 1, 2, 0, 5, 6, 0, 0]), "human_parts/a.png")
    }

    @Test func loadsThePascalContextLayout() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writePascal()
        let dataset = try PascalContextDataset(root: root, split: .val, height: 2, width: 4)
        #expect(dataset.count == 2 && dataset.ids == ["a", "b"])
        #expect(dataset.outputs(of: .semseg) == 21)
        let a = try dataset.sample(at: 0)
        #expect(abs(a.rgb[0] - 200.0 / 255) < 1e-6)
        #expect(a.labels.semseg == [0, 15, 15, 255, 1, 1, 0, 0])
        #expect(a.labels.humanParts == [0, 1, 2, 0, 5, 6, 0, 0])
        #expect(a.labels.saliency == [0, 1, 1, 0, 0, 0, 0, 0])
        let normals = a.labels.normals!
        #expect(abs(normals[0] - 1) < 0.01 && abs(normals[16 + 1] - 1) < 0.01)
        let b = try dataset.sample(at: 1)
        #expect(b.labels.humanParts == [UInt8](repeating: 255, count: 8))

        // Resized to 4x8: labels by nearest neighbour.
        let larger = try PascalContextDataset(root: root, split: .val, height: 4, width: 8, tasks: [.semseg])
        let big = try larger.sample(at: 0)
        #expect(big.labels.semseg![0..<8] == [0, 0, 15, 15, 15, 15, 255, 255])
        #expect(big.labels.tasks == [.semseg])
    }

    @Test func batchesRealSamplesLikeSyntheticOnes() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writePascal()
        let dataset = try PascalContextDataset(root: root, split: .val, height: 2, width: 4)
        let batch = try dataset.batch(indices: [1, 0], augmentation: .papers(seed: 1), epoch: 0)
        #expect(batch.labels.humanParts!.count == 16)
    }

    @Test func explainsMissingAndDamagedFiles() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writePascal()
        // ID.jpg, the layout's name, is read before a PNG beside it.
        try write(Data([0xFF, 0xD8, 0xFF, 0xE0]), "JPEGImages/b.jpg")
        try FileManager.default.removeItem(at: root.appendingPathComponent("sal_distill/a.png"))
        let dataset = try PascalContextDataset(root: root, split: .val, height: 2, width: 4)
        #expect { try dataset.sample(at: 1) } throws: { error in
            "\(error)".contains("JPEGImages/b.jpg: unreadable JPEG")
        }
        try FileManager.default.removeItem(at: root.appendingPathComponent("JPEGImages/b.jpg"))
        try FileManager.default.removeItem(at: root.appendingPathComponent("JPEGImages/b.png"))
        #expect { try dataset.sample(at: 1) } throws: { error in
            "\(error)".hasSuffix("JPEGImages/b.jpg: image missing (looked for b.jpg and b.png)")
        }
        #expect { try dataset.sample(at: 0) } throws: { error in
            "\(error)".contains("sal_distill/a.png") && "\(error)".contains("missing")
        }
        #expect { try PascalContextDataset(root: root, split: .train, height: 2, width: 4) } throws: { error in
            "\(error)".contains("ImageSets/Context/train.txt")
        }
        #expect { try PascalContextDataset(root: root, split: .val, height: 2, width: 4, tasks: [.depth]) } throws: { error in
            "\(error)".contains("has no task depth")
        }
    }

    @Test func loadsTheNYUDLayout() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try write(Data("0001\n".utf8), "gt_sets/train.txt")
        try write(PNG.encode(width: 3, height: 2, channels: 3, pixels: [UInt8](repeating: 10, count: 18)), "images/0001.png")
        // Stored 1...40 with 0 unlabelled.
        try write(PNG.encode(width: 3, height: 2, channels: 1, pixels: [0, 1, 40, 2, 2, 0]), "segmentation/0001.png")
        try write(NPY.encode(NPYArray(shape: [2, 3], values: [1.5, 0, 2, 3, 4, 5])), "depth/0001.npy")
        var normals: [Float] = []
        for i in 0..<6 { normals += i == 1 ? [0, 0, 0] : [0, 0, 2] }
        try write(NPY.encode(NPYArray(shape: [2, 3, 3], values: normals)), "normals/0001.npy")

        let dataset = try NYUDDataset(root: root, split: .train, height: 2, width: 3)
        #expect(dataset.outputs(of: .semseg) == 40)
        let sample = try dataset.sample(at: 0)
        #expect(sample.labels.semseg == [255, 0, 39, 1, 1, 255])
        #expect(sample.labels.depth == [1.5, 0, 2, 3, 4, 5])
        // Channel-first, unit length, the zero vector kept invalid.
        #expect(sample.labels.normals! == [0, 0, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0] + [1, 0, 1, 1, 1, 1])

        try write(NPY.encode(NPYArray(shape: [3, 2], values: [1, 2, 3, 4, 5, 6])), "depth/0001.npy")
        #expect { try dataset.sample(at: 0) } throws: { error in
            "\(error)".contains("depth/0001.npy") && "\(error)".contains("shape [3, 2]")
        }
    }

    /// A run config whose data_root is this suite's layout.
    func realRunConfig(kind: String = "mtl_full", extra: String = "") throws -> RunConfig {
        let json = #"{"kind": "\#(kind)", "profile": "smoke", "data_root": "\#(root.path)", "batch_size": 2\#(extra)}"#
        return try RunConfig.parse(Data(json.utf8), file: "config.json")
    }

    @Test func aRunWithDataRootTrainsOnTheRealLayout() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writePascal()
        try write(Data("b\na\n".utf8), "ImageSets/Context/train.txt")
        let config = try realRunConfig()
        #expect(config.trainImages == 2 && config.valImages == 2)
        let directory = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try RunDriver(config: config, directory: directory, threads: 1).run()

        let metrics = try JSONDecoder().decode(RunMetrics.self, from: Data(contentsOf: directory.appendingPathComponent(RunFiles.metrics)))
        #expect(Set(metrics.tasks.keys) == ["semseg", "human_parts", "saliency", "normals"])
        #expect(metrics.tasks.values.allSatisfy { $0.value.isFinite })
        // The real set's 21 classes, not the synthetic scenes' class list, size the semseg head.
        let objective = try RunDriver.objective(for: config, threads: 1) as! DenseObjective
        #expect(objective.model.heads[.semseg]!.outputs == 21)

        // train_images takes a prefix of the split list.
        #expect(try realRunConfig(extra: #", "train_images": 1"#).trainImages == 1)
    }

    @Test func aRunWithDataRootNamesTheMissingFileBeforeTraining() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try writePascal()
        #expect { try realRunConfig() } throws: { error in
            "\(error)".contains("key 'data_root'") && "\(error)".contains("ImageSets/Context/train.txt")
        }
        try write(Data("a\n".utf8), "ImageSets/Context/train.txt")
        #expect { try realRunConfig(kind: "pretrain") } throws: { error in "\(error)".contains("synthetic upstream set") }

        try FileManager.default.removeItem(at: root.appendingPathComponent("normals_distill/a.png"))
        let directory = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect { try RunDriver(config: try realRunConfig(), directory: directory, threads: 1).run() } throws: { error in
            "\(error)".hasSuffix("normals_distill/a.png: normals map missing")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent(RunFiles.metrics).path))

        try write(PNG.encode(width: 4, height: 2, channels: 3, pixels: [UInt8](repeating: 128, count: 24)),
                  "normals_distill/a.png")
        try write(Data("not an image".utf8), "JPEGImages/a.jpg")
        #expect { try RunDriver(config: try realRunConfig(), directory: directory, threads: 1).run() } throws: { error in
            "\(error)".contains("JPEGImages/a.jpg: neither a JPEG nor a PNG file")
        }
    }
}
