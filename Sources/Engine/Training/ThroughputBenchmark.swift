import Foundation
import RunContract
import Tensors

/// Measures training throughput of the multi-task model under a method (forward, the four PASCAL
/// losses, backward, PDRS's importance step, clipping, AdamW) on random batches, and the sgemm peak of this machine in the same
/// process, so the achieved fraction of peak is comparable across machines. Also times the four
/// decoder heads alone (forward and backward on fixed backbone features, behind TS-PD when the
/// method has it), so decoders compare without the backbone's share of a step.
public struct ThroughputBenchmark {
    public struct Result: Sendable {
        public var imagesPerSecond: Double
        public var secondsPerStep: Double
        /// The median of the steps' wall times: on a noisy machine steadier than the mean.
        public var medianSecondsPerStep: Double
        /// Processor time (all threads) per step: on a shared machine, less disturbed by other load.
        public var cpuSecondsPerStep: Double
        /// Forward MACs per image, counted by the layers.
        public var forwardGMACs: Double
        /// Training FLOPs per second, taking a step as 3x the forward (forward + two backward GEMMs).
        public var achievedGFLOPS: Double
        public var sgemmPeakGFLOPS: Double
        /// Forward and backward of the four heads on fixed features, per step of `batch` images.
        public var decoderSecondsPerStep: Double
        public var decoderCPUSecondsPerStep: Double
        /// The heads' share of `forwardGMACs`.
        public var decoderGMACs: Double
        public var parameters: ParameterCounts
    }

    public var shape: BackboneShape
    public var imageSize: Int
    public var batch: Int
    public var steps: Int
    public var warmup: Int
    public var threads: Int
    public var decoder: DecoderKind
    /// How the backbone adapts (full fine-tuning unless told).
    public var method: MethodOptions

    public init(shape: BackboneShape, imageSize: Int, batch: Int, steps: Int, warmup: Int = 2, threads: Int,
                decoder: DecoderKind = .hrnet, method: MethodOptions = MethodOptions(method: .full)) {
        self.shape = shape; self.imageSize = imageSize; self.batch = batch; self.steps = steps
        self.warmup = warmup; self.threads = threads; self.decoder = decoder; self.method = method
    }

    public func run() -> Result {
        ComputeSetup.configure(threads: threads)
        let tasks: [TaskName] = [.semseg, .humanParts, .saliency, .normals]
        let outputs: [TaskName: Int] = [.semseg: 21, .humanParts: 7, .saliency: 1, .normals: 3]
        let model = MultiTaskModel(shape: shape, imageSize: imageSize, tasks: tasks, outputs: outputs,
                                   decoder: .defaults(decoder, embedDim: shape.embedDim, imageSize: imageSize), seed: 0)
        let adaptation = BackboneAdaptation(options: method, model: model, seed: 0)
        let parameters = model.parameters + adaptation.parameters
        let pixels = batch * imageSize * imageSize
        var generator = SeededRandom(seed: 1)
        let images = Matrix(rows: pixels, columns: 3, values: (0..<(3 * pixels)).map { _ in Float(generator.normalDouble()) })
        var labels: [TaskName: [Float]] = [:]
        labels[.semseg] = (0..<pixels).map { _ in Float(generator.next() % 21) }
        labels[.humanParts] = (0..<pixels).map { _ in Float(generator.next() % 7) }
        labels[.saliency] = (0..<pixels).map { _ in Float(generator.next() % 2) }
        labels[.normals] = (0..<pixels).flatMap { _ -> [Float] in
            let v = (0..<3).map { _ in Float(generator.normalDouble()) }
            let n = max(1e-6, (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).squareRoot())
            return v.map { $0 / n }
        }
        let optimizer = AdamW(weightDecay: 0.05)
        let slots = parameters.compactMap(\.slot)

        func step() {
            for parameter in parameters { parameter.zeroGradient() }
            let (predictions, pullback) = adaptation.forward(model, images, batch: batch, ForwardContext(training: true))
            let (_, gradients) = TaskLoss.weightedLosses(tasks: tasks, predictions: predictions,
                                                        labels: tasks.map { labels[$0]! },
                                                        weights: tasks.map(\.paperLossWeight))
            pullback(gradients)
            adaptation.recordImportance()
            clipGradientNorm(slots, maxNorm: 5)
            optimizer.update(slots, learningRate: 1e-4)
        }
        for _ in 0..<warmup { step() }
        let start = Date(), cpuStart = processorSeconds()
        var stepSeconds: [Double] = []
        for _ in 0..<steps {
            let stepStart = Date()
            step()
            stepSeconds.append(Date().timeIntervalSince(stepStart))
        }
        let seconds = Date().timeIntervalSince(start) / Double(steps)
        let sorted = stepSeconds.sorted()
        let median = (sorted[(steps - 1) / 2] + sorted[steps / 2]) / 2
        let cpuSeconds = (processorSeconds() - cpuStart) / Double(steps)
        let macs = Double(adaptation.forwardMACs(model, imagesPerPass: batch))

        let (features, _) = model.backbone.forward(images, batch: batch, ForwardContext(training: true),
                                                   layout: adaptation.layout, taskCount: tasks.count)
        var outputGradients: [TaskName: Matrix] = [:]
        for task in tasks {
            outputGradients[task] = Matrix(rows: pixels, columns: outputs[task]!, values: (0..<(pixels * outputs[task]!)).map { _ in
                Float(generator.normalDouble()) / Float(pixels) })
        }
        /// The heads, behind TS-PD when the method has it.
        func decoderStep() {
            let (_, pullback) = model.decode(features, batch: batch, ForwardContext(training: true), spectral: adaptation.spectral)
            _ = pullback(outputGradients)
        }
        for _ in 0..<warmup { decoderStep() }
        let decoderStart = Date(), decoderCPUStart = processorSeconds()
        for _ in 0..<steps { decoderStep() }
        let decoderSeconds = Date().timeIntervalSince(decoderStart) / Double(steps)
        let decoderCPUSeconds = (processorSeconds() - decoderCPUStart) / Double(steps)
        let backboneMACs = MACCounter()
        _ = model.backbone.forward(Matrix(zeros: imageSize * imageSize, 3), batch: 1,
                                   ForwardContext(training: false, macs: backboneMACs), layout: adaptation.layout,
                                   taskCount: tasks.count)

        return Result(imagesPerSecond: Double(batch) / seconds, secondsPerStep: seconds, medianSecondsPerStep: median,
                      cpuSecondsPerStep: cpuSeconds,
                      forwardGMACs: macs / 1e9,
                      achievedGFLOPS: 3 * 2 * macs * Double(batch) / seconds / 1e9,
                      sgemmPeakGFLOPS: measureSgemmPeak(threads: ComputeThreads.process),
                      decoderSecondsPerStep: decoderSeconds, decoderCPUSecondsPerStep: decoderCPUSeconds,
                      decoderGMACs: (macs - Double(backboneMACs.total)) / 1e9, parameters: adaptation.parameterCounts(model))
    }

    private func processorSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
