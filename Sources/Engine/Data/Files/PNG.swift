import Foundation

/// A decoded PNG: `samples` interleaved per pixel (`channels` of them), at the file's bit depth
/// (8 or 16; lower depths are expanded to 8-bit values 0...2^depth-1 unscaled). Palette images
/// keep their indices in one channel and the palette alongside, because label maps (PASCAL's
/// semseg) are stored as palette PNGs whose indices are the classes.
public struct PNGImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var bitDepth: Int
    public var samples: [UInt16]
    /// RGB triples of a palette image.
    public var palette: [UInt8]?

    public init(width: Int, height: Int, channels: Int, bitDepth: Int, samples: [UInt16], palette: [UInt8]? = nil) {
        self.width = width; self.height = height; self.channels = channels; self.bitDepth = bitDepth
        self.samples = samples; self.palette = palette
    }

    /// Colours as `[3, H, W]` in [0, 1]: palette entries looked up, grey repeated, alpha dropped.
    public func rgbPlanes() -> [Float] {
        let plane = width * height
        var rgb = [Float](repeating: 0, count: 3 * plane)
        let scale = 1 / Float((1 << bitDepth) - 1)
        for i in 0..<plane {
            if let palette {
                let entry = Int(samples[i]) * 3
                for c in 0..<3 { rgb[c * plane + i] = entry + c < palette.count ? Float(palette[entry + c]) / 255 : 0 }
            } else if channels < 3 {
                let value = Float(samples[i * channels]) * scale
                for c in 0..<3 { rgb[c * plane + i] = value }
            } else {
                for c in 0..<3 { rgb[c * plane + i] = Float(samples[i * channels + c]) * scale }
            }
        }
        return rgb
    }
}

public enum PNGError: Error, Equatable, CustomStringConvertible {
    case notPNG(String)
    case malformed(String, String)
    case unsupported(String, String)

    public var description: String {
        switch self {
        case .notPNG(let file): return "\(file): not a PNG file (bad signature)"
        case .malformed(let file, let why): return "\(file): malformed PNG: \(why)"
        case .unsupported(let file, let why): return "\(file): unsupported PNG: \(why)"
        }
    }
}

/// A small PNG codec: writes 8/16-bit grey, RGB and palette images (deflate "stored" blocks,
/// which every reader accepts), and reads any non-interlaced PNG of the standard colour types.
public enum PNG {
    private static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    // MARK: writing

    /// 8-bit grey (1 channel), RGB (3) or RGBA (4), `pixels` interleaved row by row.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> Data {
        precondition([1, 3, 4].contains(channels) && pixels.count == width * height * channels)
        let colourType: UInt8 = channels == 1 ? 0 : channels == 3 ? 2 : 6
        return assemble(width: width, height: height, bitDepth: 8, colourType: colourType, palette: nil,
                        rowBytes: width * channels) { row, out in
            out.append(contentsOf: pixels[(row * width * channels)..<((row + 1) * width * channels)])
        }
    }

    /// 16-bit grey (depth maps in millimetres, for instance).
    public static func encode(width: Int, height: Int, grey16: [UInt16]) -> Data {
        precondition(grey16.count == width * height)
        return assemble(width: width, height: height, bitDepth: 16, colourType: 0, palette: nil,
                        rowBytes: width * 2) { row, out in
            for value in grey16[(row * width)..<((row + 1) * width)] {
                out.append(UInt8(value >> 8)); out.append(UInt8(value & 0xFF))
            }
        }
    }

    /// 8-bit palette image: one index per pixel, `palette` as RGB triples.
    public static func encode(width: Int, height: Int, indices: [UInt8], palette: [UInt8]) -> Data {
        precondition(indices.count == width * height && palette.count % 3 == 0 && palette.count <= 768)
        return assemble(width: width, height: height, bitDepth: 8, colourType: 3, palette: palette,
                        rowBytes: width) { row, out in
            out.append(contentsOf: indices[(row * width)..<((row + 1) * width)])
        }
    }

    private static func assemble(width: Int, height: Int, bitDepth: UInt8, colourType: UInt8, palette: [UInt8]?,
                                 rowBytes: Int, row: (Int, inout [UInt8]) -> Void) -> Data {
        var raw: [UInt8] = []
        raw.reserveCapacity(height * (rowBytes + 1))
        for y in 0..<height {
            raw.append(0)  // filter: none
            row(y, &raw)
        }
        var file = signature
        var header: [UInt8] = []
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header += [bitDepth, colourType, 0, 0, 0]
        appendChunk("IHDR", header, to: &file)
        if let palette { appendChunk("PLTE", palette, to: &file) }
        appendChunk("IDAT", Deflate.storedZlib(raw), to: &file)
        appendChunk("IEND", [], to: &file)
        return Data(file)
    }

    private static func appendChunk(_ type: String, _ body: [UInt8], to file: inout [UInt8]) {
        file.appendBigEndian(UInt32(body.count))
        let typed = Array(type.utf8) + body
        file += typed
        file.appendBigEndian(CRC32.checksum(typed))
    }

    // MARK: reading

    public static func decode(_ data: Data, file: String = "<memory>") throws -> PNGImage {
        let bytes = [UInt8](data)
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw PNGError.notPNG(file) }
        var offset = 8
        var width = 0, height = 0, bitDepth = 0, colourType = -1
        var palette: [UInt8]?
        var compressed: [UInt8] = []
        chunks: while offset + 12 <= bytes.count {
            let length = Int(bytes.readBigEndian32(at: offset))
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            guard offset + 12 + length <= bytes.count else { throw PNGError.malformed(file, "chunk \(type) runs past the end") }
            let body = bytes[(offset + 8)..<(offset + 8 + length)]
            let storedCRC = bytes.readBigEndian32(at: offset + 8 + length)
            guard CRC32.checksum(Array(bytes[(offset + 4)..<(offset + 8 + length)])) == storedCRC else {
                throw PNGError.malformed(file, "CRC mismatch in chunk \(type)")
            }
            switch type {
            case "IHDR":
                guard length == 13 else { throw PNGError.malformed(file, "IHDR has \(length) bytes, expected 13") }
                let header = Array(body)
                width = Int(header.readBigEndian32(at: 0)); height = Int(header.readBigEndian32(at: 4))
                bitDepth = Int(header[8]); colourType = Int(header[9])
                guard header[10] == 0, header[11] == 0 else { throw PNGError.malformed(file, "unknown compression or filter method") }
                guard header[12] == 0 else { throw PNGError.unsupported(file, "interlaced (Adam7) images") }
            case "PLTE": palette = Array(body)
            case "IDAT": compressed += body
            case "IEND": break chunks
            default: break
            }
            offset += 12 + length
        }
        let channelsByType = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4]
        guard let channels = channelsByType[colourType] else {
            throw PNGError.malformed(file, "colour type \(colourType) (expected 0, 2, 3, 4 or 6)")
        }
        guard [1, 2, 4, 8, 16].contains(bitDepth), width > 0, height > 0 else {
            throw PNGError.malformed(file, "size \(width)x\(height), bit depth \(bitDepth)")
        }
        guard colourType != 3 || palette != nil else { throw PNGError.malformed(file, "palette image without PLTE") }
        let raw: [UInt8]
        do { raw = try Inflate.zlib(compressed) } catch { throw PNGError.malformed(file, "\(error)") }

        let bitsPerPixel = channels * bitDepth
        let rowBytes = (width * bitsPerPixel + 7) / 8
        let stride = max(1, bitsPerPixel / 8)
        guard raw.count >= height * (rowBytes + 1) else {
            throw PNGError.malformed(file, "image data holds \(raw.count) bytes, expected \(height * (rowBytes + 1))")
        }
        var previous = [UInt8](repeating: 0, count: rowBytes)
        var current = [UInt8](repeating: 0, count: rowBytes)
        var samples = [UInt16](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            let start = y * (rowBytes + 1)
            let filter = raw[start]
            for i in 0..<rowBytes {
                let x = raw[start + 1 + i]
                let left = i >= stride ? current[i - stride] : 0
                let up = previous[i]
                let upLeft = i >= stride ? previous[i - stride] : 0
                switch filter {
                case 0: current[i] = x
                case 1: current[i] = x &+ left
                case 2: current[i] = x &+ up
                case 3: current[i] = x &+ UInt8((Int(left) + Int(up)) / 2)
                case 4: current[i] = x &+ paeth(left, up, upLeft)
                default: throw PNGError.malformed(file, "row \(y) has filter type \(filter)")
                }
            }
            let base = y * width * channels
            switch bitDepth {
            case 8: for i in 0..<(width * channels) { samples[base + i] = UInt16(current[i]) }
            case 16:
                for i in 0..<(width * channels) { samples[base + i] = UInt16(current[2 * i]) << 8 | UInt16(current[2 * i + 1]) }
            default:
                let perByte = 8 / bitDepth, mask = UInt8((1 << bitDepth) - 1)
                for i in 0..<(width * channels) {
                    let byte = current[i / perByte]
                    let shift = 8 - bitDepth * (i % perByte + 1)
                    samples[base + i] = UInt16((byte >> shift) & mask)
                }
            }
            swap(&previous, &current)
        }
        return PNGImage(width: width, height: height, channels: channels, bitDepth: bitDepth == 16 ? 16 : 8,
                        samples: samples, palette: colourType == 3 ? palette : nil)
    }

    public static func read(_ url: URL) throws -> PNGImage {
        try decode(try Data(contentsOf: url), file: url.path)
    }

    private static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }
}

enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(value >> 24)); append(UInt8((value >> 16) & 0xFF))
        append(UInt8((value >> 8) & 0xFF)); append(UInt8(value & 0xFF))
    }

    func readBigEndian32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }
}
