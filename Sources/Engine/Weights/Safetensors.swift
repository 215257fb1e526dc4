import Foundation
import RunContract

/// A named array of a safetensors file, widened to Float.
public struct StoredTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape; self.values = values
    }
}

public struct SafetensorsError: Error, CustomStringConvertible {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
}

/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a
/// JSON header mapping each name to dtype, shape and byte range, then the raw little-endian data.
/// Reads F32, F16, BF16 and F64; writes F32 with names in sorted order, so equal contents give
/// equal files.
public struct Safetensors: Sendable {
    public var tensors: [String: StoredTensor]
    public var metadata: [String: String]

    public init(tensors: [String: StoredTensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors; self.metadata = metadata
    }

    public static func read(from url: URL) throws -> Safetensors {
        let data = try Data(contentsOf: url, options: .mappedIfSafe)
        func fail(_ message: String) -> SafetensorsError { SafetensorsError(file: url.path, message: message) }
        guard data.count >= 8 else { throw fail("too short for a safetensors header") }
        let headerLength = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        guard headerLength > 0, 8 + headerLength <= data.count else { throw fail("header length \(headerLength) exceeds the file") }
        let header = data.subdata(in: 8..<(8 + headerLength))
        guard let entries = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let payload = data.subdata(in: (8 + headerLength)..<data.count)
        var file = Safetensors()
        for (name, description) in entries {
            if name == "__metadata__" {
                file.metadata = (description as? [String: String]) ?? [:]
                continue
            }
            guard let entry = description as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [NSNumber])?.map(\.intValue),
                  let offsets = (entry["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2 else {
                throw fail("entry \(name) lacks dtype, shape or data_offsets")
            }
            let count = shape.reduce(1, *)
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            case "F64": width = 8
            default: throw fail("entry \(name) has dtype \(dtype); supported: F32, F16, BF16, F64")
            }
            guard offsets[0] >= 0, offsets[1] <= payload.count, offsets[1] - offsets[0] == count * width else {
                throw fail("entry \(name): byte range \(offsets) does not match shape \(shape) of \(dtype)")
            }
            var values = [Float](repeating: 0, count: count)
            payload.withUnsafeBytes { raw in
                let base = raw.baseAddress! + offsets[0]
                for i in 0..<count {
                    switch dtype {
                    case "F32":
                        values[i] = Float(bitPattern: UInt32(littleEndian: (base + 4 * i).loadUnaligned(as: UInt32.self)))
                    case "F64":
                        values[i] = Float(Double(bitPattern: UInt64(littleEndian: (base + 8 * i).loadUnaligned(as: UInt64.self))))
                    case "F16":
                        values[i] = Float(Float16(bitPattern: UInt16(littleEndian: (base + 2 * i).loadUnaligned(as: UInt16.self))))
                    default: // BF16: the upper half of an F32
                        let bits = UInt32(UInt16(littleEndian: (base + 2 * i).loadUnaligned(as: UInt16.self))) << 16
                        values[i] = Float(bitPattern: bits)
                    }
                }
            }
            file.tensors[name] = StoredTensor(shape: shape, values: values)
        }
        return file
    }

    /// The file's bytes: header padded with spaces to a multiple of 8, then F32 data.
    public func encoded() -> Data {
        let names = tensors.keys.sorted()
        var header = "{"
        if !metadata.isEmpty {
            header += "\"__metadata__\":{" + metadata.keys.sorted()
                .map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",") + "},"
        }
        var offset = 0
        header += names.map { name in
            let tensor = tensors[name]!
            let end = offset + tensor.values.count * 4
            defer { offset = end }
            return "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offset),\(end)]}"
        }.joined(separator: ",")
        header += "}"
        var headerBytes = Data(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        var data = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(headerBytes)
        for name in names {
            tensors[name]!.values.withUnsafeBufferPointer { buffer in
                guard !buffer.isEmpty else { return }
                // Float's in-memory layout is little-endian IEEE 754 on every platform we build for.
                data.append(UnsafeBufferPointer(start: UnsafeRawPointer(buffer.baseAddress!)
                    .assumingMemoryBound(to: UInt8.self), count: buffer.count * 4))
            }
        }
        return data
    }

    /// Writes through a temporary file and a rename, so a reader never sees half a file.
    public func write(to url: URL) throws {
        try ContractJSON.writeAtomically(encoded(), to: url)
    }
}

private func jsonString(_ text: String) -> String {
    let data = try! JSONEncoder().encode(text)
    return String(decoding: data, as: UTF8.self)
}
