import Foundation

/// A NumPy array read from a `.npy` file, converted to Float, in C (row-major) order.
public struct NPYArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape; self.values = values
    }
}

/// NumPy's `.npy` format (versions 1-3): little-endian float32/float64, uint8/uint16 and
/// int16/int32 arrays, C or Fortran order. NYUD-v2's depth and normals ship this way.
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func read(_ url: URL) throws -> NPYArray {
        try decode(try Data(dataFile: url), file: url.path)
    }

    public static func decode(_ data: Data, file: String = "<memory>") throws -> NPYArray {
        let bytes = [UInt8](data)
        func fail(_ reason: String) -> DataFileError { DataFileError(file: file, reason: reason) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not a .npy file (bad magic)") }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1: headerLength = Int(bytes[8]) | Int(bytes[9]) << 8; headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default: throw fail("format version \(major) (expected 1, 2 or 3)")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) else {
            throw fail("header has no 'descr': \(header)")
        }
        let fortran = field("fortran_order", in: header) == "True"
        guard let shapeText = header.range(of: "'shape':").map({ header[$0.upperBound...] }),
              let open = shapeText.firstIndex(of: "("), let close = shapeText.firstIndex(of: ")") else {
            throw fail("header has no 'shape': \(header)")
        }
        let shape = shapeText[shapeText.index(after: open)..<close].split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = headerStart + headerLength

        let width: Int, convert: (Int) -> Float
        func little(_ offset: Int, _ size: Int) -> UInt64 {
            (0..<size).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        switch descr {
        case "<f4": width = 4; convert = { Float(bitPattern: UInt32(little($0, 4))) }
        case "<f8": width = 8; convert = { Float(Double(bitPattern: little($0, 8))) }
        case "|u1", "<u1": width = 1; convert = { Float(bytes[$0]) }
        case "<u2": width = 2; convert = { Float(UInt16(little($0, 2))) }
        case "<i2": width = 2; convert = { Float(Int16(bitPattern: UInt16(little($0, 2)))) }
        case "<i4": width = 4; convert = { Float(Int32(bitPattern: UInt32(little($0, 4)))) }
        default: throw fail("element type \(descr) (expected <f4, <f8, |u1, <u2, <i2 or <i4)")
        }
        guard body + count * width <= bytes.count else {
            throw fail("data holds \(bytes.count - body) bytes, shape \(shape) needs \(count * width)")
        }
        var values = (0..<count).map { convert(body + $0 * width) }
        if fortran && shape.count > 1 { values = transposeToRowMajor(values, shape: shape) }
        return NPYArray(shape: shape, values: values)
    }

    /// Writes a float32 C-order array (tests build NYUD-layout files with it).
    public static func encode(_ array: NPYArray) -> Data {
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // Pad so the data starts on a 64-byte boundary, header ending in a newline.
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        for value in array.values {
            let bits = value.bitPattern
            bytes += [UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24)]
        }
        return Data(bytes)
    }

    private static func field(_ name: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(name)':") else { return nil }
        let rest = header[range.upperBound...].drop { $0 == " " }
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return rest[..<end].trimmingCharacters(in: .whitespaces)
    }

    private static func transposeToRowMajor(_ values: [Float], shape: [Int]) -> [Float] {
        // Fortran order: the first index varies fastest.
        var out = [Float](repeating: 0, count: values.count)
        var index = [Int](repeating: 0, count: shape.count)
        for fortranOffset in 0..<values.count {
            var rowMajor = 0
            for axis in 0..<shape.count { rowMajor = rowMajor * shape[axis] + index[axis] }
            out[rowMajor] = values[fortranOffset]
            for axis in 0..<shape.count {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
            }
        }
        return out
    }
}
