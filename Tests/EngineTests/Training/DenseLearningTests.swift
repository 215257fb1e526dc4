import Foundation
import RunContract
import Testing
@testable import Engine

/// The synthetic scenes with every pixel painted in a colour that encodes its semseg class, so
/// the class is readable from the pixel itself: a healthy model separates classes after a few
/// dozen steps. Before the heads' recipe changed (PyTorch's init, class-prior biases, a 10x
/// learning rate; docs/engine.md, "Training recipe") they predicted background everywhere here:
/// this catches that collapse in seconds.
private struct PaintedScenes: MultiTaskDataset {
    var scenes: SyntheticScenes
    var tasks: [TaskName] { scenes.tasks }
    var count: Int { scenes.count }
    var height: Int { scenes.height }
    var width: Int { scenes.width }
    func outputs(of task: TaskName) -> Int { scenes.outputs(of: task) }

    func sample(at index: Int) throws -> MultiTaskSample {
        var sample = scenes.sample(at: index)
        let classes = sample.labels.semseg!, plane = classes.count
        for (pixel, label) in classes.enumerated() {
            // Class k in base 3 gives the three channels: 27 distinct colours for 26 classes.
            let k = Int(label)
            for channel in 0..<3 { sample.rgb[channel * plane + pixel] = Float((k / [1, 3, 9][channel]) % 3) / 2 }
        }
        return sample
    }
}

/// With the old recipe (timm's std-0.02 head init, zero biases, one learning rate, the fuse as
/// wide as its input) the head predicted 1-2 classes here, at the background-only mIoU.
@Test func denseHeadsLearnPaintedClassesInAFewDozenSteps() throws {
    let config = try RunConfig.parse(Data(#"""
        {"kind": "single_task", "task": "semseg", "profile": "smoke", "image_size": 64, "train_images": 16,
         "val_images": 8, "batch_size": 8, "epochs": 40}
        """#.utf8), file: "config.json")
    func painted(_ split: DataSplit, _ count: Int) -> PaintedScenes {
        PaintedScenes(scenes: SyntheticScenes(dataset: .pascal, split: split, count: count, height: 64, width: 64,
                                              tasks: [.semseg]))
    }
    let objective = try DenseObjective(config: config, train: painted(.train, 16), validation: painted(.val, 8))
    let directory = temporaryRunDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    try RunDriver(config: config, directory: directory, threads: 1, makeObjective: { _ in objective }).run()

    // Predicted classes on the validation images, and what predicting background everywhere scores.
    var predicted = Set<Int>()
    let classes = SyntheticScenes.semsegClasses(.pascal).count
    var background = ConfusionMatrix(classes: classes)
    let validation = painted(.val, 8)
    let batch = try validation.batch(indices: Array(0..<8))
    let (predictions, _) = objective.model.forward(channelsLastImages(batch.images, batch: 8, height: 64, width: 64),
                                                   batch: 8, ForwardContext(training: false))
    let logits = predictions[.semseg]!
    for row in 0..<logits.rows {
        let scores = logits.values[(row * classes)..<((row + 1) * classes)]
        predicted.insert(scores.indices.max { scores[$0] < scores[$1] }! - scores.startIndex)
    }
    background.add(predictions: [UInt8](repeating: 0, count: batch.labels.semseg!.count), targets: batch.labels.semseg!)
    let metrics = try JSONDecoder().decode(RunMetrics.self, from: Data(contentsOf: directory.appendingPathComponent(RunFiles.metrics)))
    #expect(predicted.count > 2, "the head predicts only classes \(predicted.sorted())")
    // Measured: 10 classes predicted, 16.0 % against 4.9 % for background everywhere.
    #expect(metrics.tasks["semseg"]!.value > background.meanIoU + 8,
            "mIoU \(metrics.tasks["semseg"]!.value) against \(background.meanIoU) for background everywhere")
}
