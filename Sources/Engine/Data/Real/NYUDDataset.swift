import Foundation

/// NYUD-v2 in the multi-task layout of ATRC / MTLoRA (NYUD_MT):
///
///     ROOT/gt_sets/{train,val}.txt    image ids
///     ROOT/images/ID.jpg              images (or ID.png)
///     ROOT/segmentation/ID.png        40 classes stored as 1...40, 0 = unlabelled -> 255
///     ROOT/depth/ID.npy               H x W metres, 0 = invalid
///     ROOT/normals/ID.npy             H x W x 3 normals; zero vectors invalid
///
/// Samples are resized to `height` x `width` (bilinear image, nearest labels).
public struct NYUDDataset: RealDataset {
    public static let layout = RealDataLayout(dataset: .nyud, name: "NYUD-v2", splitLists: "gt_sets")
    public let opened: RealSplit

    public init(opened: RealSplit) { self.opened = opened }

    public func checkFiles() throws {
        for id in ids {
            _ = try RealDataFiles.image(directory: root.appendingPathComponent("images"), id: id)
            for task in tasks {
                switch task {
                case .semseg:
                    try RealDataFiles.checkExists(root.appendingPathComponent("segmentation/\(id).png"), what: "label map")
                case .depth:
                    try RealDataFiles.checkExists(root.appendingPathComponent("depth/\(id).npy"), what: "depth array")
                case .normals:
                    try RealDataFiles.checkExists(root.appendingPathComponent("normals/\(id).npy"), what: "normals array")
                case .humanParts, .saliency:
                    break
                }
            }
        }
    }

    public func sample(at index: Int) throws -> MultiTaskSample {
        let id = ids[index]
        let image = try RealDataFiles.readRGB(directory: root.appendingPathComponent("images"), id: id)
        let source = (image.height, image.width), target = (height, width), pixels = height * width
        func array(_ folder: String, channels: Int) throws -> [Float] {
            let file = root.appendingPathComponent("\(folder)/\(id).npy")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw DataFileError(file: file.path, reason: "\(folder) missing")
            }
            let array = try NPY.read(file)
            let expected = channels == 1 ? [source.0, source.1] : [source.0, source.1, channels]
            let squeezed = array.shape.count == 3 && array.shape[2] == 1 ? Array(array.shape[0..<2]) : array.shape
            guard squeezed == expected else {
                throw DataFileError(file: file.path, reason: "shape \(array.shape), expected \(expected) to match the image")
            }
            guard channels > 1 else { return array.values }
            // H x W x C -> C x H x W.
            let plane = source.0 * source.1
            var planes = [Float](repeating: 0, count: channels * plane)
            for i in 0..<plane { for c in 0..<channels { planes[c * plane + i] = array.values[i * channels + c] } }
            return planes
        }
        var labels = DenseLabels()
        for task in tasks {
            switch task {
            case .semseg:
                let file = root.appendingPathComponent("segmentation/\(id).png")
                let map = try RealDataFiles.readIndices(file)
                guard (map.height, map.width) == source else {
                    throw DataFileError(file: file.path, reason: "size \(map.width)x\(map.height) differs from the image's")
                }
                let shifted = map.map.map { $0 == 0 ? ignoreLabel : $0 - 1 }
                labels.semseg = RealDataFiles.resizeNearest(shifted, channels: 1, from: source, to: target)
            case .depth:
                labels.depth = RealDataFiles.resizeNearest(try array("depth", channels: 1), channels: 1, from: source, to: target)
                    .map { $0.isFinite && $0 > 0 ? $0 : 0 }
            case .normals:
                let resized = RealDataFiles.resizeNearest(try array("normals", channels: 3), channels: 3, from: source, to: target)
                labels.normals = RealDataFiles.unitNormals(resized, pixels: pixels)
            case .humanParts, .saliency:
                preconditionFailure("init rejects tasks outside NYUD-v2")
            }
        }
        let rgb = RealDataFiles.resizeBilinear(image.rgb, channels: 3, from: source, to: target)
        return MultiTaskSample(height: height, width: width, rgb: rgb, labels: labels)
    }
}
