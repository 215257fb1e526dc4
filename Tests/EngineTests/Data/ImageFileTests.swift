import Foundation
import Testing
@testable import Engine

@Suite struct ImageFileTests {
    /// 40x30 RGB written by Python's zlib (level 9: dynamic Huffman blocks), rows filtered with
    /// types 0-4 in turn; pixel (x, y) = ((7x + 13y) % 256, xy % 256, (255 - 3x) % 256).
    static let filteredRGB = "iVBORw0KGgoAAAANSUhEUgAAACgAAAAeCAIAAADRv8uKAAAEvklEQVR42sXVf0yTRxzH8U+hcPDAlZ+VH5aKMJQ43KZmzilGiUqYzOkcMw6jZoYsEDfn3DIwU0OISuzAVTuq3TphaLMOTE1jJ66xinZpwNVUG2u6VNEujc0wdY0wtmqxezh1kQnCfgSS1x+Xu0ueXPLO9wEQIgiKEBCjT4KebPinwTcD3XPgXQBPIdzL0FUC1xo4N8BRAftm2Cph3YHOXbDUwaxA+xcwfQ2jFm3HYDgBvQm6H9D6I7R2aH5C8w00eqG+DdVvUAahCIecQ30CZALKf1jQP/bCKEAFoGGg4aBC0AjQSFACGgUaDcqBxoDGglJQEWgcaDxoAmgiaBJoMqgYdAJoCmgqaBpoOuhEUAloBqgUdBJoJuhk0CzQbNBnQHNAp4BORXg6qrmwEBfOCJkIJpIhTBQTzXBMDBPLUEbExDHxTMIAWWKI4yUxyYx4gJB/MRGAhIGEgwj/Z3T4IxQgVBQRXM4FVsX1rU3uKUvzb5T6tmR3b831Vk/31M50732pqyHfpS5wHi50tBTb9StsJ9+0ninttKy3XCgzX65od20y/fyh8ZeqNv92w+81+vu1uoi61th92iSlJv3L5slNjbka9fMtqtnHlPMNisXfy4tP1680ywSv8XFF9o+98YtrHh/Xf65J9lhN3JM1NTBKJoVJfTKuCJBIEAISBRI9KvTpFzKH3kcNQnu4oDw5cEDadyi3RzPTfzTfd7yw27jCe7bU01Hmtm3qulLlulbj9NQ5bintd5psgRYrDJ3ktEXUYRbb2yVXTdk3jdP8bTPuGuYI9QtEusLU1mVZ2pI8zZrZzRsWNlYsVW8uUVWuU+4oV+zaIq/bVq/YLRN8xscV0z/2xi+uNXxco6tJNuRs2jdUTWw2cROYRzUNSGPSB4wUFwcSA8JeTERPSB5qc3RgRuh8XPCSNOCc3nc9v+dmsd9X6uut6L5X5Q2r9UQr3fGarhSDS2p25tgdeW77LL9tbshaIOosyrAszzOvmte+dqmp7C3jxvK2LZWGrbv11Q262iOte49rG85p1JeaD99obPlVrb+vOkmVZyQKy7PyC3PrL78iE1zk44rvH3vjF9c2Pq5/+KcbbU0HB9XETWQkTMbguOjwcZEHcSWBxIMkgCSy9VNkjHABQoRikoOJuYG0/L7MFT1Ty/zPVflerOvOb/IuMniWdrhfv9q12u9aL3S+k+p4L8/+0ULbJyXWmvLOPdsscrn5wJH2QydNGqvx6I22470GY5T+rETX8UKrbbH2ymrNtXebPdWNtz5X39GqAqeUuKggHrnoj3pxrEyQwMcl7h974xeXhI9rxJr2/5vZ9KAm2aOaBkiZSQNGN7lSH8UVNzgufnKJQSawC0Ohf62z/n6EJQi9mhZ8Y2agtLjv7bKe8u3+95W+j491b+/w7nR7Pr3r3p/UpcpzNS1xfrPOoau0fye3nfrWaj7Xed5ludRrdtL261NMNxcYfavbej8w3JPpww7rok+1xju0Kbc1UtKck9mY97J61krV3I3Kgp2Koq/ky0/Ur7LJBCv5uNL7x974xTWfj+sps0kxfE0Hh66JG6YmLpOZzGSNGFfG4Mn1eFwZD+PiX0xSWDJpIOkgE9nRcHIeLv4EHwXFMu0YoEUAAAAASUVORK5CYII="
    /// 3x3 8-bit RGB, Adam7-interlaced (Python's zlib); pixel (x, y) = (10x, 20y, 7).
    static let interlacedRGB = "iVBORw0KGgoAAAANSUhEUgAAAAMAAAADCAIAAAGuTRJ+AAAAJElEQVR42g3GsQ0AAAyDMLZImTmi/1/YDMgAwcXFC912Ymo0DxMOAU68IMznAAAAAElFTkSuQmCC"
    /// 4x1 palette image at 2 bits per index (Python's zlib): indices 3, 2, 1, 0, four entries.
    static let palette2bit = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAABAgMAAACEUudeAAAADFBMVEUAAAAyMjJkZGTIyMiPiRMQAAAACklEQVR42mN4AgAA5gDl9VLzQwAAAABJRU5ErkJggg=="
    /// 3x2 16-bit grey (fixed Huffman block): 0, 1000, 65535 / 300, 4242, 7.
    static let grey16 = "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACEAAAAADoj+WFAAAAFklEQVR42mNgYGB+8f8/A6OOwCQGdgAdDQPAzF/nbQAAAABJRU5ErkJggg=="

    @Test func decodesDynamicHuffmanAndEveryRowFilter() throws {
        let image = try PNG.decode(Data(base64Encoded: Self.filteredRGB)!)
        #expect(image.width == 40 && image.height == 30 && image.channels == 3 && image.bitDepth == 8)
        for y in 0..<30 {
            for x in 0..<40 {
                let i = 3 * (y * 40 + x)
                #expect(image.samples[i] == UInt16((x * 7 + y * 13) % 256))
                #expect(image.samples[i + 1] == UInt16((x * y) % 256))
                #expect(image.samples[i + 2] == UInt16((255 - x * 3) % 256))
            }
        }
    }

    @Test func decodesFixedHuffmanSixteenBitGrey() throws {
        let image = try PNG.decode(Data(base64Encoded: Self.grey16)!)
        #expect(image.channels == 1 && image.bitDepth == 16)
        #expect(image.samples == [0, 1000, 65535, 300, 4242, 7])
    }

    @Test func roundTripsWhatItWrites() throws {
        let rgb: [UInt8] = (0..<(5 * 4 * 3)).map { UInt8($0 * 4) }
        let decoded = try PNG.decode(PNG.encode(width: 5, height: 4, channels: 3, pixels: rgb))
        #expect(decoded.samples == rgb.map(UInt16.init))
        let palette: [UInt8] = [0, 0, 0, 128, 0, 0, 0, 128, 0]
        let indexed = try PNG.decode(PNG.encode(width: 3, height: 1, indices: [2, 0, 1], palette: palette))
        #expect(indexed.samples == [2, 0, 1] && indexed.palette == palette)
        let planes = indexed.rgbPlanes()  // [R R R, G G G, B B B]
        #expect(planes[0] == 0 && abs(planes[2] - 128.0 / 255) < 1e-6 && abs(planes[3] - 128.0 / 255) < 1e-6)
        let depth = try PNG.decode(PNG.encode(width: 2, height: 1, grey16: [5, 60_000]))
        #expect(depth.samples == [5, 60_000] && depth.bitDepth == 16)
        // Larger than one stored block.
        let big = [UInt8](repeating: 7, count: 300 * 300)
        #expect(try PNG.decode(PNG.encode(width: 300, height: 300, channels: 1, pixels: big)).samples.count == 90_000)
    }

    @Test func rejectsDamagedPNGs() throws {
        var bytes = [UInt8](PNG.encode(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4]))
        bytes[bytes.count - 20] ^= 0xFF
        #expect(throws: DataFileError.self) { try PNG.decode(Data(bytes), file: "x.png") }
        #expect(throws: DataFileError(file: "y.png", reason: "unreadable PNG: not a PNG file (bad signature)")) {
            try PNG.decode(Data([1, 2, 3]), file: "y.png")
        }
    }

    /// libpng reads what other PNG writers produce: Adam7 interlacing, 2-bit palette indices.
    @Test func decodesInterlacedAndLowBitDepthPNGs() throws {
        // 3x3 RGB, interlaced, from Python's zlib; pixel (x, y) = (10x, 20y, 7).
        let interlaced = try PNG.decode(Data(base64Encoded: Self.interlacedRGB)!)
        #expect(interlaced.width == 3 && interlaced.height == 3 && interlaced.channels == 3)
        for y in 0..<3 { for x in 0..<3 { #expect(interlaced.samples[3 * (y * 3 + x)..<3 * (y * 3 + x) + 3] == [UInt16(10 * x), UInt16(20 * y), 7]) } }
        // 4x1 palette image at 2 bits: indices 3, 2, 1, 0 unpacked, not scaled.
        let packed = try PNG.decode(Data(base64Encoded: Self.palette2bit)!)
        #expect(packed.samples == [3, 2, 1, 0] && packed.bitDepth == 8 && packed.palette?.count == 12)
    }

    @Test func npyRoundTripsAndReadsOtherTypes() throws {
        let array = NPYArray(shape: [2, 3], values: [1, -2, 3.5, 0, 1e-3, 7])
        #expect(try NPY.decode(NPY.encode(array)) == array)
        // Hand-built float64, Fortran-order 2x2 array [[1, 2], [3, 4]] stored column by column.
        var header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
        for value in [1.0, 3.0, 2.0, 4.0] { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        let fortran = try NPY.decode(Data(bytes))
        #expect(fortran == NPYArray(shape: [2, 2], values: [1, 2, 3, 4]))
        #expect(throws: DataFileError.self) { try NPY.decode(Data([0x93, 1, 2]), file: "bad.npy") }
    }
}
