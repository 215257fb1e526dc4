import Foundation

/// Writes images with their labels as PNG files for people to look at (`mtl-engine samples`):
/// per sample `NNN_image.png` and one file per task (class maps in the VOC palette, ignore in
/// cream; saliency white on black; normals as RGB = (n + 1) / 2; depth as grey, near = bright,
/// invalid = black), plus `overview.png` with one row per sample.
public enum SampleGallery {
    /// Returns the files written. `zoom` enlarges every pixel to zoom x zoom for viewing.
    @discardableResult
    public static func write(_ dataset: any MultiTaskDataset, count: Int, to directory: URL,
                             augmentation: Augmentation? = nil, zoom: Int = 2) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let height = dataset.height, width = dataset.width
        var written: [URL] = []
        var rows: [[[UInt8]]] = []
        for index in 0..<min(count, dataset.count) {
            var sample = try dataset.sample(at: index)
            if let augmentation { sample = augmentation.apply(to: sample, epoch: 0, index: index) }
            var tiles = [("image", colours(rgb: sample.rgb, pixels: sample.pixels))]
            for task in dataset.tasks {
                tiles.append((task.rawValue, colourise(task, labels: sample.labels, pixels: sample.pixels)))
            }
            for (name, tile) in tiles {
                let url = directory.appendingPathComponent(String(format: "%03d_%@.png", index, name))
                try PNG.encode(width: width * zoom, height: height * zoom, channels: 3,
                               pixels: enlarge(tile, width: width, height: height, zoom: zoom)).write(to: url)
                written.append(url)
            }
            rows.append(tiles.map(\.1))
        }
        if !rows.isEmpty {
            let url = directory.appendingPathComponent("overview.png")
            let (pixels, overviewWidth, overviewHeight) = mosaic(rows, width: width, height: height, zoom: zoom)
            try PNG.encode(width: overviewWidth, height: overviewHeight, channels: 3, pixels: pixels).write(to: url)
            written.append(url)
        }
        return written
    }

    /// Writes a grid of classification samples (`classes.txt` names each tile's class).
    @discardableResult
    public static func write(_ dataset: any ClassificationDataset, count: Int, columns: Int = 8, to directory: URL,
                             classNames: (Int) -> String = { "\($0)" }, zoom: Int = 2) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var tiles: [[UInt8]] = [], names: [String] = []
        for index in 0..<min(count, dataset.count) {
            let sample = try dataset.sample(at: index)
            tiles.append(colours(rgb: sample.rgb, pixels: sample.height * sample.width))
            names.append("\(index): \(classNames(sample.label))")
        }
        let rows = stride(from: 0, to: tiles.count, by: columns).map { Array(tiles[$0..<min($0 + columns, tiles.count)]) }
        let (pixels, width, height) = mosaic(rows, width: dataset.width, height: dataset.height, zoom: zoom)
        let image = directory.appendingPathComponent("classes.png"), list = directory.appendingPathComponent("classes.txt")
        try PNG.encode(width: width, height: height, channels: 3, pixels: pixels).write(to: image)
        try (names.joined(separator: "\n") + "\n").write(to: list, atomically: true, encoding: .utf8)
        return [image, list]
    }

    /// Interleaved 8-bit RGB of a task's labels.
    public static func colourise(_ task: TaskName, labels: DenseLabels, pixels: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 3 * pixels)
        switch task.labelKind {
        case .classIndices:
            let map = labels.classes(task)!
            for i in 0..<pixels {
                let rgb = map[i] == ignoreLabel ? (224, 224, 192) : vocColour(Int(map[i]))
                out[3 * i] = rgb.0; out[3 * i + 1] = rgb.1; out[3 * i + 2] = rgb.2
            }
        case .binary:
            let map = labels.classes(task)!
            for i in 0..<pixels {
                let value: UInt8 = map[i] == ignoreLabel ? 128 : map[i] == 1 ? 255 : 0
                out[3 * i] = value; out[3 * i + 1] = value; out[3 * i + 2] = value
            }
        case .unitVectors:
            let normals = labels.normals!
            for i in 0..<pixels {
                let n = (normals[i], normals[pixels + i], normals[2 * pixels + i])
                guard n != (0, 0, 0) else { continue }
                out[3 * i] = byte((n.0 + 1) / 2); out[3 * i + 1] = byte((n.1 + 1) / 2); out[3 * i + 2] = byte((n.2 + 1) / 2)
            }
        case .metres:
            let depth = labels.depth!
            let far = depth.max() ?? 0
            for i in 0..<pixels where depth[i] > 0 && far > 0 {
                let value = byte(1 - 0.85 * depth[i] / far)
                out[3 * i] = value; out[3 * i + 1] = value; out[3 * i + 2] = value
            }
        }
        return out
    }

    /// PASCAL VOC's label colours: the bits of the class index spread over R, G and B.
    static func vocColour(_ label: Int) -> (UInt8, UInt8, UInt8) {
        var r = 0, g = 0, b = 0, c = label
        for shift in stride(from: 7, through: 0, by: -1) {
            r |= (c & 1) << shift; g |= ((c >> 1) & 1) << shift; b |= ((c >> 2) & 1) << shift
            c >>= 3
        }
        return (UInt8(r), UInt8(g), UInt8(b))
    }

    static func colours(rgb: [Float], pixels: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 3 * pixels)
        for i in 0..<pixels { for c in 0..<3 { out[3 * i + c] = byte(rgb[c * pixels + i]) } }
        return out
    }

    private static func byte(_ value: Float) -> UInt8 { UInt8(min(max(value * 255, 0), 255).rounded()) }

    private static func enlarge(_ tile: [UInt8], width: Int, height: Int, zoom: Int) -> [UInt8] {
        guard zoom > 1 else { return tile }
        var out = [UInt8](repeating: 0, count: tile.count * zoom * zoom)
        for y in 0..<(height * zoom) {
            for x in 0..<(width * zoom) {
                let source = 3 * ((y / zoom) * width + x / zoom), target = 3 * (y * width * zoom + x)
                out[target] = tile[source]; out[target + 1] = tile[source + 1]; out[target + 2] = tile[source + 2]
            }
        }
        return out
    }

    /// Rows of equally sized tiles, separated by a grey gap.
    private static func mosaic(_ rows: [[[UInt8]]], width: Int, height: Int, zoom: Int)
        -> (pixels: [UInt8], width: Int, height: Int) {
        let gap = 2, tileWidth = width * zoom, tileHeight = height * zoom
        let columns = rows.map(\.count).max() ?? 0
        let totalWidth = columns * (tileWidth + gap) - gap, totalHeight = rows.count * (tileHeight + gap) - gap
        var out = [UInt8](repeating: 96, count: 3 * totalWidth * totalHeight)
        for (r, row) in rows.enumerated() {
            for (c, tile) in row.enumerated() {
                let big = enlarge(tile, width: width, height: height, zoom: zoom)
                for y in 0..<tileHeight {
                    let target = 3 * ((r * (tileHeight + gap) + y) * totalWidth + c * (tileWidth + gap))
                    out.replaceSubrange(target..<(target + 3 * tileWidth), with: big[(3 * y * tileWidth)..<(3 * (y + 1) * tileWidth)])
                }
            }
        }
        return (out, totalWidth, totalHeight)
    }
}
