import CImageCodecs
import Foundation

/// A decoded JPEG or PNG: `samples` interleaved per pixel (`channels` of them), at 8 or 16 bits
/// (PNG depths below 8 are unpacked to values 0...2^depth-1, unscaled). Palette images keep
/// their indices in one channel and the palette alongside, because label maps (PASCAL's semseg)
/// are stored as palette PNGs whose indices are the classes.
public struct DecodedImage: Sendable, Equatable {
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

    /// Takes over what a successful decode allocated, and frees it.
    fileprivate init(consuming image: inout codec_image) {
        defer { codec_image_free(&image) }
        let count = Int(image.width) * Int(image.height) * Int(image.channels)
        let wide = image.bit_depth == 16
        var samples = [UInt16](repeating: 0, count: count)
        if let bytes = image.samples {
            for i in 0..<count {
                samples[i] = wide ? UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1]) : UInt16(bytes[i])
            }
        }
        let palette = image.palette.map { Array(UnsafeBufferPointer(start: $0, count: 3 * Int(image.palette_entries))) }
        self.init(width: Int(image.width), height: Int(image.height), channels: Int(image.channels),
                  bitDepth: wide ? 16 : 8, samples: samples, palette: palette)
    }
}

/// Image files, JPEG or PNG, told apart by their first bytes rather than their names.
public enum ImageFile {
    public static func read(_ url: URL) throws -> DecodedImage {
        try decode(try Data(dataFile: url), file: url.path)
    }

    public static func decode(_ data: Data, file: String = "<memory>") throws -> DecodedImage {
        if data.starts(with: JPEG.signature) { return try JPEG.decode(data, file: file) }
        if data.starts(with: PNG.signature) { return try PNG.decode(data, file: file) }
        let start = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw DataFileError(file: file, reason: "neither a JPEG nor a PNG file (it starts with bytes \(start))")
    }
}

/// JPEG through libjpeg-turbo (baseline and progressive; colour or grey, read as RGB).
public enum JPEG {
    static let signature: [UInt8] = [0xFF, 0xD8, 0xFF]

    public static func decode(_ data: Data, file: String = "<memory>") throws -> DecodedImage {
        try decodeImage(data, file: file, format: "JPEG", with: codec_decode_jpeg)
    }
}

/// PNG through libpng: reads every colour type and bit depth (interlaced too); writes 8-bit
/// grey, RGB, RGBA and palette images and 16-bit grey.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    public static func read(_ url: URL) throws -> DecodedImage {
        try decode(try Data(dataFile: url), file: url.path)
    }

    public static func decode(_ data: Data, file: String = "<memory>") throws -> DecodedImage {
        try decodeImage(data, file: file, format: "PNG", with: codec_decode_png)
    }

    /// 8-bit grey (1 channel), RGB (3) or RGBA (4), `pixels` interleaved row by row.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> Data {
        precondition([1, 3, 4].contains(channels) && pixels.count == width * height * channels)
        return encode(pixels, width: width, height: height, channels: channels, bitDepth: 8, palette: nil)
    }

    /// 16-bit grey (depth maps in millimetres, for instance).
    public static func encode(width: Int, height: Int, grey16: [UInt16]) -> Data {
        encode(width: width, height: height, channels: 1, samples16: grey16)
    }

    /// 16-bit grey (1 channel), RGB (3) or RGBA (4), `samples16` interleaved row by row (the
    /// synthetic export's images and normals: near-lossless, docs/data.md).
    public static func encode(width: Int, height: Int, channels: Int, samples16: [UInt16]) -> Data {
        precondition([1, 3, 4].contains(channels) && samples16.count == width * height * channels)
        let bigEndian = samples16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        return encode(bigEndian, width: width, height: height, channels: channels, bitDepth: 16, palette: nil)
    }

    /// 8-bit palette image: one index per pixel, `palette` as RGB triples.
    public static func encode(width: Int, height: Int, indices: [UInt8], palette: [UInt8]) -> Data {
        precondition(indices.count == width * height && palette.count % 3 == 0 && (3...768).contains(palette.count))
        return encode(indices, width: width, height: height, channels: 1, bitDepth: 8, palette: palette)
    }

    /// The preconditions above are all libpng can refuse, so a failure here is a bug (or no memory).
    private static func encode(_ samples: [UInt8], width: Int, height: Int, channels: Int, bitDepth: Int,
                               palette: [UInt8]?) -> Data {
        var buffer = codec_buffer()
        let status = samples.withUnsafeBufferPointer { pixels in
            if let palette {
                return palette.withUnsafeBufferPointer { entries in
                    codec_encode_png(pixels.baseAddress, Int32(width), Int32(height), Int32(channels), Int32(bitDepth),
                                     entries.baseAddress, Int32(palette.count / 3), &buffer)
                }
            }
            return codec_encode_png(pixels.baseAddress, Int32(width), Int32(height), Int32(channels), Int32(bitDepth),
                                    nil, 0, &buffer)
        }
        defer { codec_buffer_free(&buffer) }
        guard status == 0, let bytes = buffer.bytes else {
            preconditionFailure("libpng could not write a \(width)x\(height) PNG: \(text(of: &buffer.message))")
        }
        return Data(bytes: bytes, count: buffer.size)
    }
}

/// Runs one of CImageCodecs' decoders; a failure is an error naming the file, with the reason
/// libjpeg or libpng gave.
private func decodeImage(_ data: Data, file: String, format: String,
                         with decoder: (UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<codec_image>?) -> Int32)
    throws -> DecodedImage {
    var image = codec_image()
    let status = data.withUnsafeBytes { bytes in decoder(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, &image) }
    guard status == 0 else {
        throw DataFileError(file: file, reason: "unreadable \(format): \(text(of: &image.message))")
    }
    return DecodedImage(consuming: &image)
}

/// A codec's `message` (a NUL-terminated C array, imported as a tuple) as a String.
private func text<Message>(of message: inout Message) -> String {
    withUnsafeBytes(of: &message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}
