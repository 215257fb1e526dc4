/// zlib streams (RFC 1950) around deflate data (RFC 1951): the writer emits "stored" blocks,
/// the reader decodes all three block types.
enum Deflate {
    /// `bytes` as a zlib stream of uncompressed deflate blocks.
    static func storedZlib(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var start = 0
        repeat {
            let end = min(start + 65_535, bytes.count)
            let length = UInt16(end - start)
            out.append(end == bytes.count ? 1 : 0)  // BFINAL, BTYPE = 00
            out += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            out += bytes[start..<end]
            start = end
        } while start < bytes.count
        out.appendBigEndian(adler32(bytes))
        return out
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return b << 16 | a
    }
}

struct InflateError: Error, CustomStringConvertible {
    var description: String
}

enum Inflate {
    /// Decodes a zlib stream and checks its Adler-32.
    static func zlib(_ bytes: [UInt8]) throws -> [UInt8] {
        guard bytes.count >= 6 else { throw InflateError(description: "zlib stream of \(bytes.count) bytes") }
        guard bytes[0] & 0x0F == 8, (UInt16(bytes[0]) << 8 | UInt16(bytes[1])) % 31 == 0 else {
            throw InflateError(description: "bad zlib header")
        }
        guard bytes[1] & 0x20 == 0 else { throw InflateError(description: "zlib preset dictionaries are not supported") }
        var reader = BitReader(bytes: bytes, offset: 2)
        let output = try raw(&reader)
        let trailer = reader.alignedOffset
        if trailer + 4 <= bytes.count, bytes.readBigEndian32(at: trailer) != Deflate.adler32(output) {
            throw InflateError(description: "Adler-32 checksum mismatch")
        }
        return output
    }

    /// Decodes raw deflate data from the reader's position.
    static func raw(_ reader: inout BitReader) throws -> [UInt8] {
        var out: [UInt8] = []
        var final = false
        while !final {
            final = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0:
                reader.alignToByte()
                let length = try reader.bits(16), complement = try reader.bits(16)
                guard length == ~complement & 0xFFFF else { throw InflateError(description: "stored block length check failed") }
                out += try reader.bytes(length)
            case 1:
                try inflateBlock(&reader, into: &out, literals: fixedLiterals, distances: fixedDistances)
            case 2:
                let (literals, distances) = try dynamicTables(&reader)
                try inflateBlock(&reader, into: &out, literals: literals, distances: distances)
            default:
                throw InflateError(description: "invalid block type 3")
            }
        }
        return out
    }

    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
                                     115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
                                       1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11,
                                        12, 12, 13, 13]

    private static let fixedLiterals = Huffman(lengths: (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 })
    private static let fixedDistances = Huffman(lengths: [Int](repeating: 5, count: 30))

    private static func dynamicTables(_ reader: inout BitReader) throws -> (Huffman, Huffman) {
        let literalCount = try reader.bits(5) + 257, distanceCount = try reader.bits(5) + 1
        let codeCount = try reader.bits(4) + 4
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<codeCount { codeLengths[order[i]] = try reader.bits(3) }
        let codeTable = Huffman(lengths: codeLengths)
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let symbol = try codeTable.decode(&reader)
            switch symbol {
            case 0..<16: lengths.append(symbol)
            case 16:
                guard let last = lengths.last else { throw InflateError(description: "repeat with no previous length") }
                lengths += [Int](repeating: last, count: 3 + (try reader.bits(2)))
            case 17: lengths += [Int](repeating: 0, count: 3 + (try reader.bits(3)))
            default: lengths += [Int](repeating: 0, count: 11 + (try reader.bits(7)))
            }
        }
        guard lengths.count == literalCount + distanceCount else { throw InflateError(description: "code lengths overrun") }
        return (Huffman(lengths: Array(lengths[0..<literalCount])), Huffman(lengths: Array(lengths[literalCount...])))
    }

    private static func inflateBlock(_ reader: inout BitReader, into out: inout [UInt8], literals: Huffman,
                                     distances: Huffman) throws {
        while true {
            let symbol = try literals.decode(&reader)
            if symbol < 256 {
                out.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let index = symbol - 257
                guard index < lengthBase.count else { throw InflateError(description: "bad length symbol \(symbol)") }
                let length = lengthBase[index] + (try reader.bits(lengthExtra[index]))
                let distanceSymbol = try distances.decode(&reader)
                guard distanceSymbol < distanceBase.count else { throw InflateError(description: "bad distance symbol") }
                let distance = distanceBase[distanceSymbol] + (try reader.bits(distanceExtra[distanceSymbol]))
                guard distance <= out.count else { throw InflateError(description: "distance \(distance) before the start") }
                let start = out.count - distance
                for i in 0..<length { out.append(out[start + i]) }
            }
        }
    }
}

/// Canonical Huffman decoding (counts per length, symbols in code order).
struct Huffman {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int] = []

    init(lengths: [Int]) {
        for length in lengths { counts[length] += 1 }
        counts[0] = 0
        var offsets = [Int](repeating: 0, count: 16)
        for length in 1..<16 { offsets[length] = offsets[length - 1] + counts[length - 1] }
        symbols = [Int](repeating: 0, count: lengths.count)
        for (symbol, length) in lengths.enumerated() where length > 0 {
            symbols[offsets[length]] = symbol
            offsets[length] += 1
        }
    }

    func decode(_ reader: inout BitReader) throws -> Int {
        var code = 0, first = 0, index = 0
        for length in 1..<16 {
            code |= try reader.bits(1)
            let count = counts[length]
            if code - count < first { return symbols[index + (code - first)] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw InflateError(description: "invalid Huffman code")
    }
}

/// Reads deflate's LSB-first bit stream.
struct BitReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    private var bitBuffer: UInt64 = 0
    private var bitCount = 0

    init(bytes: [UInt8], offset: Int) { self.bytes = bytes; self.offset = offset }

    mutating func bits(_ count: Int) throws -> Int {
        while bitCount < count {
            guard offset < bytes.count else { throw InflateError(description: "deflate data ends early") }
            bitBuffer |= UInt64(bytes[offset]) << UInt64(bitCount)
            offset += 1
            bitCount += 8
        }
        let value = Int(bitBuffer & ((1 << UInt64(count)) - 1))
        bitBuffer >>= UInt64(count)
        bitCount -= count
        return value
    }

    mutating func alignToByte() {
        bitBuffer = 0
        bitCount = 0
    }

    /// Byte position after the current (partially read) byte.
    var alignedOffset: Int { offset - bitCount / 8 }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        alignToByte()
        guard offset + count <= bytes.count else { throw InflateError(description: "stored block runs past the end") }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }
}
