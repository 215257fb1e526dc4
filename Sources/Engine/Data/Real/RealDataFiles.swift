import Foundation
import Tensors

/// Reading and resampling the files of the real layouts.
enum RealDataFiles {
    static func checkTasks(_ tasks: [TaskName], of dataset: DatasetName, named name: String, root: URL) throws {
        if let foreign = tasks.first(where: { !dataset.tasks.contains($0) }) {
            throw DataFileError(file: root.path, reason: "\(name) has no task \(foreign.rawValue); its tasks are "
                                + dataset.tasks.map(\.rawValue).joined(separator: ", "))
        }
    }

    /// Split list: one image id per line, blank lines skipped.
    static func ids(in url: URL) throws -> [String] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw DataFileError(file: url.path, reason: "split list missing or unreadable (expected one image id per line)")
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func checkExists(_ file: URL, what: String) throws {
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw DataFileError(file: file.path, reason: "\(what) missing")
        }
    }

    /// The image file of `id` in `directory`: `ID.jpg` as the layouts ship it, else `ID.png`
    /// (images converted to PNG beside or instead of the JPEGs).
    static func image(directory: URL, id: String) throws -> URL {
        let jpeg = directory.appendingPathComponent(id + ".jpg"), png = directory.appendingPathComponent(id + ".png")
        if FileManager.default.fileExists(atPath: jpeg.path) { return jpeg }
        if FileManager.default.fileExists(atPath: png.path) { return png }
        throw DataFileError(file: jpeg.path, reason: "image missing (looked for \(id).jpg and \(id).png)")
    }

    /// The image of `id` in `directory` as `[3, H, W]` in [0, 1] (JPEG or PNG, by content).
    static func readRGB(directory: URL, id: String) throws -> (rgb: [Float], height: Int, width: Int) {
        let image = try ImageFile.read(try image(directory: directory, id: id))
        return (image.rgbPlanes(), image.height, image.width)
    }

    /// A single-channel 8-bit label map (grey or palette indices).
    static func readIndices(_ url: URL) throws -> (map: [UInt8], height: Int, width: Int) {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DataFileError(file: url.path, reason: "label map missing")
        }
        let image = try PNG.read(url)
        guard image.channels == 1 || image.channels == 2, image.bitDepth == 8 else {
            throw DataFileError(file: url.path, reason: "expected an 8-bit grey or palette label map, found "
                                + "\(image.channels) channels at \(image.bitDepth) bits")
        }
        let map = (0..<(image.width * image.height)).map { UInt8(image.samples[$0 * image.channels]) }
        return (map, image.height, image.width)
    }

    /// Bilinear resampling of `[C, H, W]` planes (align_corners = false), for images: Tensors'
    /// kernel, each plane one single-channel image.
    static func resizeBilinear(_ planes: [Float], channels: Int, from source: (Int, Int), to target: (Int, Int)) -> [Float] {
        if source == target { return planes }
        let resize = BilinearResize(images: channels, channels: 1, from: source, to: target)
        return [Float](unsafeUninitializedCapacity: channels * target.0 * target.1) { out, count in
            planes.withUnsafeBufferPointer { resize.forward($0.baseAddress!, out.baseAddress!) }
            count = channels * target.0 * target.1
        }
    }

    /// Nearest-neighbour resampling of `[C, H, W]` planes, for label maps.
    static func resizeNearest<T>(_ planes: [T], channels: Int, from source: (Int, Int), to target: (Int, Int)) -> [T] {
        let (sh, sw) = source, (th, tw) = target
        if sh == th && sw == tw { return planes }
        var out: [T] = []
        out.reserveCapacity(channels * th * tw)
        for c in 0..<channels {
            for y in 0..<th {
                let sy = min(Int((Float(y) + 0.5) * Float(sh) / Float(th)), sh - 1)
                for x in 0..<tw {
                    let sx = min(Int((Float(x) + 0.5) * Float(sw) / Float(tw)), sw - 1)
                    out.append(planes[c * sh * sw + sy * sw + sx])
                }
            }
        }
        return out
    }

    /// Unit normals from raw vectors `[3, H, W]`; vectors of (near) zero length become invalid (0).
    static func unitNormals(_ raw: [Float], pixels: Int) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * pixels)
        for i in 0..<pixels {
            let x = raw[i], y = raw[pixels + i], z = raw[2 * pixels + i]
            let norm = (x * x + y * y + z * z).squareRoot()
            guard norm > 1e-3 else { continue }
            out[i] = x / norm; out[pixels + i] = y / norm; out[2 * pixels + i] = z / norm
        }
        return out
    }
}
