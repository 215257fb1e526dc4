import ArgumentParser
import EngineCLI
import Foundation
import RunContract
import Testing
@testable import Engine

/// The committed fixtures (Tests/EngineTests/Fixtures, written by make-fixtures.py): PASCAL-Context
/// and NYUD-v2 as MTLoRA's loaders expect them, with JPEG images, and damaged files. Every image is
/// 16 x 12; image `seed` (0, 1, 2 in the order make-fixtures.py writes them) has its object where
/// `inBox` says.
@Suite struct RealFixtureTests {
    static let width = 16, height = 12

    static func fixture(_ path: String) throws -> URL {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return folder.appendingPathComponent(path)
    }

    static func inBox(_ x: Int, _ y: Int, seed: Int) -> Bool { (3 + seed)..<(10 + seed) ~= x && (2..<9) ~= y }

    /// `value(x, y)` for every pixel, row by row.
    static func map<T>(_ value: (Int, Int) -> T) -> [T] {
        (0..<height).flatMap { y in (0..<width).map { x in value(x, y) } }
    }

    // MARK: the decoders on files other programs wrote

    @Test func aJPEGDecodesToTheSamePixelsAsDjpeg() throws {
        let image = try ImageFile.read(try Self.fixture("pascal/JPEGImages/2008_000002.jpg"))
        #expect(image.width == 16 && image.height == 12 && image.channels == 3 && image.bitDepth == 8)
        let ppm = [UInt8](try Data(contentsOf: try Self.fixture("reference/2008_000002.ppm")))
        let header = Array("P6\n16 12\n255\n".utf8)
        #expect(Array(ppm.prefix(header.count)) == header)
        #expect(image.samples == ppm.dropFirst(header.count).map(UInt16.init))
        // The object is red, the background blue-ish, within JPEG's loss.
        let planes = image.rgbPlanes(), plane = 16 * 12, box = 5 * 16 + 6
        #expect(abs(planes[box] - 200.0 / 255) < 0.05 && abs(planes[plane + box] - 40.0 / 255) < 0.05)
    }

    @Test func greyAndProgressiveJPEGsDecode() throws {
        let grey = try JPEG.decode(Data(contentsOf: try Self.fixture("pascal/JPEGImages/2008_000003.jpg")))
        #expect(grey.channels == 3)
        for i in 0..<(16 * 12) { #expect(grey.samples[3 * i] == grey.samples[3 * i + 1] && grey.samples[3 * i] == grey.samples[3 * i + 2]) }
        let progressive = try ImageFile.read(try Self.fixture("pascal/JPEGImages/2008_000007.jpg"))
        let box = 3 * (5 * 16 + 8)
        #expect(progressive.samples[box..<(box + 3)].map { Int($0) }.elementsEqual([200, 40, 40]) { abs($0 - $1) <= 12 })
    }

    /// Each damaged file: an error that names it and says what libjpeg or libpng found.
    @Test(arguments: [
        ("damaged/truncated.jpg", "unreadable JPEG: Premature end of JPEG file"),
        ("damaged/truncated.png", "unreadable PNG: the file ends early (truncated)"),
        ("damaged/corrupt.png", "unreadable PNG: IDAT: "),
        ("damaged/not-an-image.jpg", "neither a JPEG nor a PNG file (it starts with bytes 3c 68 74 6d"),
    ])
    func aDamagedFileIsAnErrorNamingIt(file: String, reason: String) throws {
        let url = try Self.fixture(file)
        #expect { try ImageFile.read(url) } throws: { error in
            guard let error = error as? DataFileError else { return false }
            return error.file == url.path && error.reason.hasPrefix(reason)
        }
    }

    // MARK: the layouts

    @Test func loadsThePascalContextFixture() throws {
        let train = try PascalContextDataset(root: try Self.fixture("pascal"), split: .train, height: 12, width: 16)
        #expect(train.ids == ["2008_000002", "2008_000003"])
        try train.checkFiles()
        for seed in 0..<2 {
            let sample = try train.sample(at: seed)
            #expect(sample.labels.semseg == Self.map { x, y in
                Self.inBox(x, y, seed: seed) ? (y == 8 ? 255 : 15) : 0
            })
            #expect(sample.labels.saliency == Self.map { x, y in Self.inBox(x, y, seed: seed) ? 1 : 0 })
            let normals = try #require(sample.labels.normals), plane = 16 * 12
            let facing = Self.map { x, y in Self.inBox(x, y, seed: seed) }
            for i in 0..<plane {
                // (128, 128, 255) -> about +z; (255, 128, 128) -> about +x.
                #expect(normals[(facing[i] ? 2 : 0) * plane + i] > 0.99)
            }
        }
        let first = try train.sample(at: 0), second = try train.sample(at: 1)
        #expect(first.labels.humanParts == Self.map { x, y in
            Self.inBox(x, y, seed: 0) ? (y < 4 ? 1 : y < 6 ? 2 : 5) : 0
        })
        // No part map: no person, all ignore.
        #expect(second.labels.humanParts == [UInt8](repeating: 255, count: 16 * 12))
        // The grey JPEG: three equal planes.
        let plane = 16 * 12
        #expect(second.rgb[0..<plane] == second.rgb[plane..<(2 * plane)])

        let val = try PascalContextDataset(root: try Self.fixture("pascal"), split: .val, height: 24, width: 32)
        #expect(val.ids == ["2008_000007"])
        #expect(try val.sample(at: 0).labels.semseg?.count == 24 * 32)
    }

    @Test func loadsTheNYUDFixture() throws {
        let train = try NYUDDataset(root: try Self.fixture("nyud"), split: .train, height: 12, width: 16)
        #expect(train.ids == ["0003", "0004"])
        try train.checkFiles()
        let sample = try train.sample(at: 1)
        // Stored 1...40 with 0 unlabelled: wall 1 -> 0, table 7 -> 6, the last row unlabelled.
        #expect(sample.labels.semseg == Self.map { x, y in y == 11 ? 255 : Self.inBox(x, y, seed: 1) ? 6 : 0 })
        #expect(sample.labels.depth == Self.map { x, y in
            y == 11 ? 0 : Self.inBox(x, y, seed: 1) ? 1.5 : Float(3.0 + 0.1 * Double(x))
        })
        let normals = try #require(sample.labels.normals), plane = 16 * 12
        #expect(normals[2 * plane + 5 * 16 + 5] == 1 && normals[plane + 0] == 1 && normals[11 * 16] == 0)
        #expect(try NYUDDataset(root: try Self.fixture("nyud"), split: .val, height: 12, width: 16).count == 1)
    }

    // MARK: a damaged image in a run

    /// A copy of the PASCAL fixture with one validation image replaced by a truncated JPEG.
    func damagedPascal() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("damaged-pascal-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: try Self.fixture("pascal"), to: root)
        let image = root.appendingPathComponent("JPEGImages/2008_000007.jpg")
        try FileManager.default.removeItem(at: image)
        try FileManager.default.copyItem(at: try Self.fixture("damaged/truncated.jpg"), to: image)
        return root
    }

    func runDirectory(config: String) throws -> URL {
        let directory = temporaryRunDirectory()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try config.write(to: directory.appendingPathComponent(RunFiles.config), atomically: true, encoding: .utf8)
        return directory
    }

    /// The engine's exit code for a damaged image is 2 (a bad file of the data set), before any
    /// training: the run directory holds only its config.
    @Test func aTruncatedImageStopsTheRunWithExitCode2BeforeTraining() throws {
        let root = try damagedPascal()
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = try runDirectory(config: #"{"kind": "mtl_full", "profile": "smoke", "data_root": "\#(root.path)", "batch_size": 2}"#)
        defer { try? FileManager.default.removeItem(at: directory) }
        let command = try TrainCommand.parse(["--config", directory.appendingPathComponent(RunFiles.config).path,
                                              "--out", directory.path])
        #expect(throws: ExitCode(2)) { try command.run() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == [RunFiles.config])
        let config = try RunConfig.load(from: directory.appendingPathComponent(RunFiles.config))
        #expect { try RunDriver(config: config, directory: directory, threads: 1).run() } throws: { error in
            "\(error)" == "\(root.path)/JPEGImages/2008_000007.jpg: unreadable JPEG: Premature end of JPEG file"
        }
    }

    /// An image damaged while a run was stopped: the resumed run stops with the file's name and
    /// leaves the checkpoint it had as it was, so the run continues once the file is mended.
    @Test func aRunResumedOnADamagedImageKeepsItsCheckpoint() throws {
        let root = try damagedPascal()
        defer { try? FileManager.default.removeItem(at: root) }
        let truncated = try Data(contentsOf: root.appendingPathComponent("JPEGImages/2008_000007.jpg"))
        let whole = try Data(contentsOf: try Self.fixture("pascal/JPEGImages/2008_000007.jpg"))
        try whole.write(to: root.appendingPathComponent("JPEGImages/2008_000007.jpg"))
        let directory = try runDirectory(config: #"{"kind": "mtl_full", "profile": "smoke", "data_root": "\#(root.path)", "batch_size": 2, "epochs": 2}"#)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try RunConfig.load(from: directory.appendingPathComponent(RunFiles.config))
        let checkpoint = directory.appendingPathComponent(Checkpoint.fileName)
        // Stopped after its first epoch.
        #expect(throws: RunStopped.self) {
            try RunDriver(config: config, directory: directory, threads: 1,
                          shouldStop: { FileManager.default.fileExists(atPath: checkpoint.path) }).run()
        }
        let kept = try Data(contentsOf: checkpoint)

        try truncated.write(to: root.appendingPathComponent("JPEGImages/2008_000007.jpg"))
        #expect(throws: DataFileError.self) { try RunDriver(config: config, directory: directory, threads: 1).run() }
        #expect(try Data(contentsOf: checkpoint) == kept)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent(RunFiles.metrics).path))

        try whole.write(to: root.appendingPathComponent("JPEGImages/2008_000007.jpg"))
        try RunDriver(config: config, directory: directory, threads: 1).run()
        #expect(ContractJSON.readProgress(at: directory.appendingPathComponent(RunFiles.progress)).map(\.epoch) == [1, 2])
    }
}
