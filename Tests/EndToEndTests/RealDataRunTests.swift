import Foundation
import Testing

extension EndToEnd.Engine {
    /// A grid over the real-data fixture (Tests/EngineTests/Fixtures/pascal, JPEG images) and a
    /// copy of it with one image cut short, run by `sweep` with the real engine: the damaged run
    /// fails with exit 2 and a message naming the file, and the other run succeeds beside it.
    @Test func aDamagedImageFailsItsRunAndNothingElse() async throws {
        let scratch = try Scratch()
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../EngineTests/Fixtures").standardizedFileURL
        let whole = scratch.root.appendingPathComponent("pascal"), damaged = scratch.root.appendingPathComponent("damaged")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("pascal"), to: whole)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("pascal"), to: damaged)
        let image = damaged.appendingPathComponent("JPEGImages/2008_000007.jpg")
        try FileManager.default.removeItem(at: image)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("damaged/truncated.jpg"), to: image)
        _ = try scratch.write("real.yaml", """
            name: real-data
            executor: {slots: 1, threads: 1, retries: 0}
            seeds: [0]
            defaults: {kind: mtl_full, batch_size: 2}
            profiles:
              smoke: {seeds: [0]}
            groups:
              data:
                rows:
                  - {label: whole, data_root: "\(whole.path)"}
                  - {label: damaged, data_root: "\(damaged.path)"}

            """)
        let result = try await scratch.sweep(["run", "real.yaml", "--profile", "smoke"], limit: .seconds(300))
        #expect(result.status == 1, "\(result.output)")
        let runs = try await scratch.status()
        let good = try #require(runs.values.first { $0.label == "whole" })
        let bad = try #require(runs.values.first { $0.label == "damaged" })
        #expect(good.state == "succeeded", "\(result.output)")
        #expect(bad.state == "failed" && bad.exit_code == 2 && bad.attempts == 1)
        let show = try await scratch.sweep(["show", bad.id])
        #expect(show.stdout.contains("\(image.path): unreadable JPEG: Premature end of JPEG file"), "\(show.output)")
    }
}
