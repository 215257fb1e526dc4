import Foundation

/// PASCAL-Context in the multi-task layout of ASTMT / MTLoRA (PASCAL_MT):
///
///     ROOT/ImageSets/Context/{train,val}.txt   image ids
///     ROOT/JPEGImages/ID.jpg                   images (or ID.png)
///     ROOT/semseg/VOC12/ID.png                 21-class maps (or semseg/pascal-context/ID.png)
///     ROOT/human_parts/ID.png                  7-class part maps (see below)
///     ROOT/sal_distill/ID.png                  grey saliency, > 0.5 of 255 = salient
///     ROOT/normals_distill/ID.png              RGB normals, n = 2 v / 255 - 1
///
/// Every sample is resized to `height` x `width` (bilinear image, nearest labels), as MTLoRA's
/// fixed resize does. Differences from the original files, stated so users can prepare data:
/// human parts are read from `human_parts/ID.png` label maps (0 background, 1-6 parts) rather than the
/// original MATLAB `.mat` annotations, a map that is all background, or absent when the image has
/// no person, is all ignore (255); the distilled normals are used without MTLoRA's per-class
/// validity mask (which needs the Context `.mat` label maps), only zero vectors are invalid.
public struct PascalContextDataset: RealDataset {
    public static let layout = RealDataLayout(dataset: .pascal, name: "PASCAL-Context", splitLists: "ImageSets/Context")
    public let opened: RealSplit

    public init(opened: RealSplit) { self.opened = opened }

    /// Human parts are optional: an image without people has no part map.
    public func checkFiles() throws {
        for id in ids {
            _ = try RealDataFiles.image(directory: root.appendingPathComponent("JPEGImages"), id: id)
            for task in tasks {
                switch task {
                case .semseg:
                    let voc = root.appendingPathComponent("semseg/VOC12/\(id).png")
                    if !FileManager.default.fileExists(atPath: voc.path) {
                        try RealDataFiles.checkExists(root.appendingPathComponent("semseg/pascal-context/\(id).png"),
                                                      what: "semseg label map (or semseg/VOC12/\(id).png)")
                    }
                case .saliency:
                    try RealDataFiles.checkExists(root.appendingPathComponent("sal_distill/\(id).png"), what: "saliency map")
                case .normals:
                    try RealDataFiles.checkExists(root.appendingPathComponent("normals_distill/\(id).png"), what: "normals map")
                case .humanParts, .depth:
                    break
                }
            }
        }
    }

    public func sample(at index: Int) throws -> MultiTaskSample {
        let id = ids[index]
        let image = try RealDataFiles.readRGB(directory: root.appendingPathComponent("JPEGImages"), id: id)
        let source = (image.height, image.width), target = (height, width), pixels = height * width
        func checkSize(_ size: (Int, Int), _ file: String) throws {
            guard size == source else {
                throw DataFileError(file: file, reason: "size \(size.1)x\(size.0) differs from the image's \(source.1)x\(source.0)")
            }
        }
        var labels = DenseLabels()
        for task in tasks {
            switch task {
            case .semseg:
                let voc = root.appendingPathComponent("semseg/VOC12/\(id).png")
                let file = FileManager.default.fileExists(atPath: voc.path)
                    ? voc : root.appendingPathComponent("semseg/pascal-context/\(id).png")
                let map = try RealDataFiles.readIndices(file)
                try checkSize((map.height, map.width), file.path)
                labels.semseg = RealDataFiles.resizeNearest(map.map, channels: 1, from: source, to: target)
            case .humanParts:
                let file = root.appendingPathComponent("human_parts/\(id).png")
                if FileManager.default.fileExists(atPath: file.path) {
                    let map = try RealDataFiles.readIndices(file)
                    try checkSize((map.height, map.width), file.path)
                    let resized = RealDataFiles.resizeNearest(map.map, channels: 1, from: source, to: target)
                    labels.humanParts = resized.allSatisfy { $0 == 0 } ? [UInt8](repeating: ignoreLabel, count: pixels) : resized
                } else {
                    labels.humanParts = [UInt8](repeating: ignoreLabel, count: pixels)
                }
            case .saliency:
                let file = root.appendingPathComponent("sal_distill/\(id).png")
                let map = try RealDataFiles.readIndices(file)
                try checkSize((map.height, map.width), file.path)
                labels.saliency = RealDataFiles.resizeNearest(map.map.map { $0 > 127 ? 1 : 0 }, channels: 1,
                                                              from: source, to: target)
            case .normals:
                let file = root.appendingPathComponent("normals_distill/\(id).png")
                guard FileManager.default.fileExists(atPath: file.path) else {
                    throw DataFileError(file: file.path, reason: "normals missing")
                }
                let png = try PNG.read(file)
                guard png.channels >= 3, png.palette == nil else {
                    throw DataFileError(file: file.path, reason: "expected RGB normals, found \(png.channels) channel(s)")
                }
                try checkSize((png.height, png.width), file.path)
                let plane = png.width * png.height, maximum = Float((1 << png.bitDepth) - 1)
                var raw = [Float](repeating: 0, count: 3 * plane)
                for i in 0..<plane {
                    for c in 0..<3 { raw[c * plane + i] = 2 * Float(png.samples[i * png.channels + c]) / maximum - 1 }
                }
                let resized = RealDataFiles.resizeNearest(raw, channels: 3, from: source, to: target)
                labels.normals = RealDataFiles.unitNormals(resized, pixels: pixels)
            case .depth:
                preconditionFailure("init rejects tasks outside PASCAL-Context")
            }
        }
        let rgb = RealDataFiles.resizeBilinear(image.rgb, channels: 3, from: source, to: target)
        return MultiTaskSample(height: height, width: width, rgb: rgb, labels: labels)
    }
}
