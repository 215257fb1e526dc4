import Foundation
import RunContract
import Testing
@testable import Engine

/// A short multi-task run from the bundled backbone beats each task's best constant prediction
/// (`kind: trivial`) on the same validation images: the synthetic benchmark's columns carry
/// signal. 64 training images, batches of 8 for 4 epochs (PASCAL) or 8 (NYUD's depth needs
/// them), 16 validation images.
/// The runs take tens of seconds, so they train on a dispatch thread, one case after the other:
/// on the 2-thread cooperative pool of a 2-core machine a synchronous test this long starves the
/// executor tests' timers.
@Suite(.serialized) struct TrivialBaselineTests {
    func metrics(_ json: String) async throws -> RunMetrics {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let directory = temporaryRunDirectory()
                    defer { try? FileManager.default.removeItem(at: directory) }
                    let config = try RunConfig.parse(Data(json.utf8), file: "config.json")
                    try RunDriver(config: config, directory: directory, threads: 1).run()
                    return try JSONDecoder().decode(RunMetrics.self,
                                                    from: Data(contentsOf: directory.appendingPathComponent(RunFiles.metrics)))
                })
            }
        }
    }

    @Test(arguments: [DatasetName.pascal, .nyud])
    func aShortRunBeatsTheTrivialPredictorOnEveryTask(dataset: DatasetName) async throws {
        let scale = #""dataset": "\#(dataset.rawValue)", "train_images": 64, "val_images": 16"#
        let epochs = dataset == .pascal ? 4 : 8
        let trained = try await metrics(#"{"kind": "mtl_full", \#(scale), "backbone_weights": "swin_mini-synthetic-1k", "batch_size": 8, "epochs": \#(epochs)}"#)
        let trivial = try await metrics(#"{"kind": "trivial", \#(scale)}"#)
        #expect(trained.tasks.keys.sorted() == trivial.tasks.keys.sorted())
        for (task, constant) in trivial.tasks {
            let value = trained.tasks[task]!.value
            // Measured (release build, the same configs): PASCAL semseg 5.7 / 0.9, saliency 36.4 /
            // 22.7, normals 32.7° / 45.4°; NYUD semseg 7.9 / 1.7, depth 1.50 / 1.87 m, normals 42.3° / 59.4°.
            let better = constant.direction == .higher ? value > constant.value * 1.2 + 1 : value < constant.value * 0.9
            if task == TaskName.humanParts.rawValue {
                // Human parts stay at the constant (background everywhere) at this scale and at the
                // default profile's: docs/data.md, "How well each task learns".
                withKnownIssue("human parts are not learned at our scale") {
                    #expect(better, "\(task): \(value) against the trivial \(constant.value)")
                }
            } else {
                #expect(better, "\(task): \(value) against the trivial \(constant.value)")
            }
        }
    }
}
