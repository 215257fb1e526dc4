import Foundation
import Testing
@testable import Engine

@Test func safetensorsRoundTripKeepsNamesShapesValuesAndMetadata() throws {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rt-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    let file = Safetensors(tensors: [
        "layers.0.blocks.0.attn.qkv.weight": StoredTensor(shape: [6, 2], values: (0..<12).map { Float($0) * 0.5 - 3 }),
        "norm.bias": StoredTensor(shape: [3], values: [.pi, -0, 1e-30]),
        "empty": StoredTensor(shape: [0], values: []),
    ], metadata: ["format": "pt"])
    try file.write(to: url)
    let back = try Safetensors.read(from: url)
    #expect(back.tensors == file.tensors)
    #expect(back.metadata == ["format": "pt"])
    // The header is 8-byte aligned, as the format requires.
    let data = try Data(contentsOf: url)
    let headerLength = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    #expect(headerLength % 8 == 0)
}

@Test func safetensorsReadsHalfPrecisionAndBFloat16() throws {
    // A file written by hand: F16 [1.5, -2] and BF16 [1.0].
    let header = #"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}"#
    var data = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(Data(header.utf8))
    for bits: UInt16 in [Float16(1.5).bitPattern, Float16(-2).bitPattern, UInt16(Float(1).bitPattern >> 16)] {
        withUnsafeBytes(of: bits.littleEndian) { data.append(contentsOf: $0) }
    }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("h-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try data.write(to: url)
    let file = try Safetensors.read(from: url)
    #expect(file.tensors["a"]?.values == [1.5, -2])
    #expect(file.tensors["b"]?.values == [1])
}

@Test func truncatedSafetensorsIsAnErrorNotACrash() throws {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("t-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    let full = Safetensors(tensors: ["w": StoredTensor(shape: [4], values: [1, 2, 3, 4])]).encoded()
    try full.prefix(full.count - 4).write(to: url)
    #expect(throws: SafetensorsError.self) { try Safetensors.read(from: url) }
}
