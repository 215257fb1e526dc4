import Foundation

/// Writes a split of the synthetic scenes in the on-disk layout of the real data set it imitates
/// (PASCAL-Context's PASCAL_MT or NYUD-v2's NYUD_MT, docs/data.md "Real data layouts"), so another
/// engine (bench/torch_engine.py) trains on the images and labels `mtl-engine` trains on, read
/// through the layout the real loaders read. `mtl-engine export` runs it.
///
/// What goes through a file and what it costs (docs/data.md, "Exporting the synthetic scenes"):
/// label maps are 8-bit PNG indices and depth / NYUD normals float32 `.npy`, both exact; images and
/// PASCAL's normals are 16-bit PNG (a value v in [0, 1] is stored as round(65535 v), so it reads
/// back within 1/131070 of the rendered float; 8 bits would move it by up to 1/510, and a zero
/// normal, "no label", would read back as a valid direction).
public enum SyntheticExport {
    /// The metadata file written beside the layout: the class names the layout itself cannot say
    /// (the synthetic sets have 26 and 16 semseg classes, not PASCAL's 21 or NYUD's 40).
    public static let metadataFile = "synthetic.json"

    /// Class names per segmentation task of the export at `root`, nil when `root` holds no export.
    static func classNames(root: URL) throws -> [String: [String]]? {
        let url = root.appendingPathComponent(metadataFile)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(Metadata.self, from: Data(dataFile: url)).classes
        } catch {
            throw DataFileError(file: url.path, reason: "not the metadata of an `mtl-engine export` (\(error))")
        }
    }

    /// Image `index` of `split`; the split in the id keeps train and val apart in one root.
    public static func id(split: DataSplit, index: Int) -> String {
        split.rawValue + "_" + String(format: "%06d", index)
    }

    public struct Metadata: Codable, Equatable, Sendable {
        public var dataset: DatasetName
        public var size: Int
        public var seed: UInt64
        public var engineVersion: String
        /// Images per exported split.
        public var splits: [String: Int]
        /// Class names of the segmentation tasks, index = label value.
        public var classes: [String: [String]]

        enum CodingKeys: String, CodingKey {
            case dataset, size, seed, splits, classes
            case engineVersion = "engine_version"
        }
    }

    /// Writes every image of `scenes` under `root` and its split list, and records the split in
    /// `root/synthetic.json`. A root that holds another data set, size or seed is refused, so one
    /// root never mixes two exports. Returns the ids written.
    @discardableResult
    public static func write(_ scenes: SyntheticScenes, to root: URL, threads: Int = 1) throws -> [String] {
        guard scenes.height == scenes.width else {
            throw DataFileError(file: root.path, reason: "the export writes square images, not \(scenes.width)x\(scenes.height)")
        }
        let metadataURL = root.appendingPathComponent(metadataFile)
        var metadata = Metadata(
            dataset: scenes.dataset, size: scenes.height, seed: scenes.seed, engineVersion: EngineVersion.current,
            splits: [:],
            classes: scenes.dataset == .pascal
                ? ["semseg": SyntheticScenes.semsegClasses(.pascal), "human_parts": SyntheticScenes.humanPartNames]
                : ["semseg": SyntheticScenes.semsegClasses(.nyud)])
        if FileManager.default.fileExists(atPath: metadataURL.path) {
            let existing: Metadata
            do { existing = try JSONDecoder().decode(Metadata.self, from: Data(dataFile: metadataURL)) } catch {
                throw DataFileError(file: metadataURL.path, reason: "not an export's metadata (\(error)); export into an empty directory")
            }
            guard existing.dataset == metadata.dataset, existing.size == metadata.size, existing.seed == metadata.seed else {
                throw DataFileError(file: metadataURL.path, reason:
                    "holds an export of \(existing.dataset.rawValue) at \(existing.size) px, seed \(existing.seed); "
                    + "this one is \(metadata.dataset.rawValue) at \(metadata.size) px, seed \(metadata.seed): use another directory")
            }
            metadata.splits = existing.splits
        }
        let layout = scenes.dataset == .pascal ? PascalContextDataset.layout : NYUDDataset.layout
        let ids = (0..<scenes.count).map { id(split: scenes.split, index: $0) }
        let folders = scenes.dataset == .pascal
            ? ["JPEGImages", "semseg/VOC12", "human_parts", "sal_distill", "normals_distill"]
            : ["images", "segmentation", "depth", "normals"]
        for folder in folders + [layout.splitLists] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let all = SyntheticScenes(dataset: scenes.dataset, split: scenes.split, count: scenes.count,
                                  height: scenes.height, width: scenes.width, seed: scenes.seed)
        _ = try concurrentMap(Array(0..<scenes.count), threads: threads) { index in
            let files = all.dataset == .pascal ? pascalFiles(all.sample(at: index)) : nyudFiles(all.sample(at: index))
            for (path, data) in files {
                try data.write(to: root.appendingPathComponent(path.replacingOccurrences(of: "ID", with: ids[index])))
            }
            return true
        }
        try Data((ids.joined(separator: "\n") + "\n").utf8)
            .write(to: layout.splitList(root: root, split: scenes.split), options: .atomic)
        metadata.splits[scenes.split.rawValue] = scenes.count
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(metadata).write(to: metadataURL, options: .atomic)
        return ids
    }

    /// A value in [0, 1] as a 16-bit sample.
    static func sample16(_ value: Float) -> UInt16 { UInt16((min(max(value, 0), 1) * 65535).rounded()) }

    /// `[C, H, W]` planes as interleaved 16-bit samples, each value mapped by `toUnit` into [0, 1].
    static func interleaved16(_ planes: [Float], channels: Int, toUnit: (Float) -> Float = { $0 }) -> [UInt16] {
        let plane = planes.count / channels
        return (0..<(plane * channels)).map { sample16(toUnit(planes[($0 % channels) * plane + $0 / channels])) }
    }

    static func image16(_ sample: MultiTaskSample) -> Data {
        PNG.encode(width: sample.width, height: sample.height, channels: 3, samples16: interleaved16(sample.rgb, channels: 3))
    }

    static func grey8(_ sample: MultiTaskSample, _ map: [UInt8]) -> Data {
        PNG.encode(width: sample.width, height: sample.height, channels: 1, pixels: map)
    }

    /// The files of one PASCAL-style sample, paths with "ID" for the image id. Human parts: no file
    /// for an image without a figure (its labels are all 255), as PASCAL_MT leaves them out.
    static func pascalFiles(_ sample: MultiTaskSample) -> [(String, Data)] {
        let labels = sample.labels
        var files: [(String, Data)] = [
            ("JPEGImages/ID.png", image16(sample)),
            ("semseg/VOC12/ID.png", grey8(sample, labels.semseg!)),
            // The loader reads > 127 as salient; the synthetic saliency has no ignored pixels.
            ("sal_distill/ID.png", grey8(sample, labels.saliency!.map { $0 == 1 ? 255 : 0 })),
            // n = 2 v - 1 with v in [0, 1]: a zero normal (no label) is stored as 32768 and reads back
            // with length 2.6e-5, under the loader's 1e-3 threshold for "no label".
            ("normals_distill/ID.png", PNG.encode(width: sample.width, height: sample.height, channels: 3,
                                                  samples16: interleaved16(labels.normals!, channels: 3) { ($0 + 1) / 2 })),
        ]
        if labels.humanParts!.contains(where: { $0 != ignoreLabel }) {
            files.append(("human_parts/ID.png", grey8(sample, labels.humanParts!)))
        }
        return files
    }

    /// The files of one NYUD-style sample: segmentation stored plus one (0 = unlabelled), depth and
    /// normals as float32 `.npy` (H x W and H x W x 3).
    static func nyudFiles(_ sample: MultiTaskSample) -> [(String, Data)] {
        let labels = sample.labels, plane = sample.pixels
        let normals = (0..<(3 * plane)).map { labels.normals![($0 % 3) * plane + $0 / 3] }
        return [
            ("images/ID.png", image16(sample)),
            ("segmentation/ID.png", grey8(sample, labels.semseg!.map { $0 == ignoreLabel ? 0 : $0 + 1 })),
            ("depth/ID.npy", NPY.encode(NPYArray(shape: [sample.height, sample.width], values: labels.depth!))),
            ("normals/ID.npy", NPY.encode(NPYArray(shape: [sample.height, sample.width, 3], values: normals))),
        ]
    }
}
