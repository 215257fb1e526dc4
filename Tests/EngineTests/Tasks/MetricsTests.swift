import Foundation
import RunContract
import Testing
@testable import Engine

@Suite struct MetricsTests {
    @Test func meanIoUPoolsOverImagesIgnoresAndSkipsAbsentClasses() {
        var matrix = ConfusionMatrix(classes: 4)
        // Class 3 never occurs; pixel 4 of the first image is ignored.
        matrix.add(predictions: [0, 0, 1, 1], targets: [0, 1, 1, 255])
        matrix.add(predictions: [2, 2, 0, 1], targets: [2, 0, 0, 1])
        // Class 0: tp 2, fp 1, fn 1 -> 1/2. Class 1: tp 2, fp 0, fn 1 -> 2/3. Class 2: tp 1, fp 1 -> 1/2.
        let iou = matrix.classIoU
        #expect(abs(iou[0]! - 0.5) < 1e-12)
        #expect(abs(iou[1]! - 2.0 / 3) < 1e-12)
        #expect(abs(iou[2]! - 0.5) < 1e-12)
        #expect(iou[3] == nil)
        #expect(abs(matrix.meanIoU - 100 * (0.5 + 2.0 / 3 + 0.5) / 3) < 1e-9)
    }

    @Test func logitsAreArgmaxedPerPixel() {
        var fromLogits = ConfusionMatrix(classes: 3), direct = ConfusionMatrix(classes: 3)
        // Two images of 2 pixels, 3 classes: [B, K, H*W].
        let logits: [Float] = [0, 5, 1, 0, 2, 0, /* image 2 */ 9, 0, 0, 1, 0, 3]
        fromLogits.add(logits: logits, targets: [2, 2, 0, 1], pixelsPerImage: 2)
        direct.add(predictions: [2, 0, 0, 2], targets: [2, 2, 0, 1])
        #expect(fromLogits == direct)
    }

    @Test func saliencyTakesTheBestThresholdOfPerImageIoU() {
        var meter = SaliencyMeter()
        #expect(SaliencyMeter.thresholds.count == 15)
        #expect(abs(SaliencyMeter.thresholds.first! - 0.2) < 1e-6 && abs(SaliencyMeter.thresholds.last! - 0.9) < 1e-6)
        // Image 1: probabilities 0.3 and 0.95 on a salient pair -> IoU 1 at thresholds < 0.3, 0.5 above.
        // Image 2: nothing salient, nothing above 0.24 -> IoU 1 from 0.25 on; at 0.2 IoU 0.
        meter.add(probabilities: [0.3, 0.95, 0.24, 0.1], targets: [1, 1, 0, 0], pixelsPerImage: 2)
        let perThreshold = meter.meanIoUPerThreshold
        #expect(abs(perThreshold[0] - 50) < 1e-9)  // 0.2: (1 + 0) / 2
        #expect(abs(perThreshold[1] - 100) < 1e-9)  // 0.25: (1 + 1) / 2
        #expect(abs(perThreshold[14] - 75) < 1e-9)  // 0.9: (0.5 + 1) / 2
        #expect(abs(meter.maxMeanIoU - 100) < 1e-9)
    }

    @Test func normalsAreNormalisedBeforeTheAngle() {
        var meter = NormalsMeter()
        // Two pixels: prediction (2, 0, 0) vs label (1, 0, 0) -> 0°; (0, 3, 0) vs (1, 0, 0) -> 90°;
        // a third pixel with an all-zero label is invalid.
        let plane = 3
        let prediction: [Float] = [2, 0, 5, 0, 3, 5, 0, 0, 5]
        let target: [Float] = [1, 1, 0, 0, 0, 0, 0, 0, 0]
        meter.add(predictions: prediction, targets: target, pixelsPerImage: plane)
        #expect(meter.pixels == 2)
        #expect(abs(meter.meanAngle - 45) < 1e-6)
        #expect(meter.accuracies == [50, 50, 50])
    }

    @Test func depthRMSEPoolsValidPixels() {
        var meter = DepthMeter()
        meter.add(predictions: [1, 2, 9], targets: [2, 2, 0])
        meter.add(predictions: [4], targets: [1])
        #expect(meter.pixels == 3)
        #expect(abs(meter.rmse - ((1.0 + 0 + 9) / 3).squareRoot()) < 1e-12)
    }

    @Test func evaluatorsReportThePapersMetrics() {
        var evaluator = TaskEvaluator(task: .normals, outputs: 3)
        evaluator.add(output: [0, 0, 1], labels: DenseLabels(normals: [0, 0, 1]), pixelsPerImage: 1)
        #expect(evaluator.metric == TaskMetric(name: "rmse", value: 0, direction: .lower))
        var parts = TaskEvaluator(task: .humanParts, outputs: 2)
        parts.add(output: [1, 0, 0, 1], labels: DenseLabels(humanParts: [0, 1]), pixelsPerImage: 2)
        #expect(parts.metric == TaskMetric(name: "mIoU", value: 100, direction: .higher))
        // The same two pixels, pixel-major.
        var channelsLast = TaskEvaluator(task: .humanParts, outputs: 2)
        channelsLast.add(output: [1, 0, 0, 1], layout: .channelsLast, labels: DenseLabels(humanParts: [0, 1]),
                         pixelsPerImage: 2)
        #expect(channelsLast == parts)
        var swapped = TaskEvaluator(task: .humanParts, outputs: 2)
        swapped.add(output: [0, 1, 1, 0], layout: .channelsLast, labels: DenseLabels(humanParts: [0, 1]), pixelsPerImage: 2)
        #expect(swapped.value == 0)
        var normals = TaskEvaluator(task: .normals, outputs: 3)
        normals.add(output: [0, 0, 1, 1, 0, 0], layout: .channelsLast,
                    labels: DenseLabels(normals: [0, 0, 0, 1, 1, 0]), pixelsPerImage: 2)
        #expect(abs(normals.value - 45) < 1e-9)
        #expect(TaskName.saliency.direction == .higher && TaskName.depth.direction == .lower)
        #expect(DatasetName.nyud.realOutputs(of: .semseg) == 40)
    }
}
