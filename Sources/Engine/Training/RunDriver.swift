import Foundation
import RunContract
import Tensors

/// Drives one run of the run contract: resume from the checkpoint if there is one, train the
/// remaining epochs (checkpoint and progress line after each), evaluate, write metrics.json.
public struct RunDriver {
    public var config: RunConfig
    public var directory: URL
    /// Threads of the engine's parallel loops and GEMM splits (Tensors' `ComputeThreads`;
    /// OpenBLAS itself runs on one); from MTL_THREADS by default.
    public var threads: Int
    /// Builds the objective; tests substitute their own.
    public var makeObjective: (RunConfig) throws -> any TrainingObjective
    /// Checked before every step; the process-wide signal flag unless a test gives its own.
    public var shouldStop: () -> Bool

    public init(config: RunConfig, directory: URL,
                threads: Int = RunDriver.threadsFromEnvironment(),
                makeObjective: ((RunConfig) throws -> any TrainingObjective)? = nil,
                shouldStop: @escaping () -> Bool = { StopRequest.isRequested }) {
        self.config = config; self.directory = directory; self.threads = threads
        self.makeObjective = makeObjective ?? { try RunDriver.objective(for: $0, threads: threads) }
        self.shouldStop = shouldStop
    }

    public static func threadsFromEnvironment() -> Int {
        ProcessInfo.processInfo.environment[RunEnvironment.threads].flatMap(Int.init).map { max(1, $0) } ?? 1
    }

    /// The objective a config asks for.
    public static func objective(for config: RunConfig, threads: Int) throws -> any TrainingObjective {
        let size = config.imageSize
        switch config.kind {
        case .pretrain:
            let variant: SyntheticObjects.Variant = config.pretrainSet == "22k" ? .imagenet22k : .imagenet1k
            // The data sets do not depend on the run's seed: every run of a grid sees the same images.
            return PretrainObjective(
                config: config,
                train: SyntheticObjects(variant: variant, split: .train, count: config.trainImages, height: size, width: size),
                validation: SyntheticObjects(variant: variant, split: .val, count: config.valImages, height: size, width: size),
                threads: threads)
        case .singleTask, .mtlFull, .mtlDecoders, .taskSimilarity, .trivial:
            let train: any MultiTaskDataset, validation: any MultiTaskDataset
            if let root = config.dataRoot {
                let url = URL(fileURLWithPath: root)
                train = try RealDataSets.open(config.dataset, root: url, split: .train, size: size,
                                              tasks: config.tasks, limit: config.trainImages)
                validation = try RealDataSets.open(config.dataset, root: url, split: .val, size: size,
                                                   tasks: config.tasks, limit: config.valImages)
            } else {
                train = SyntheticScenes(dataset: config.dataset, split: .train, count: config.trainImages,
                                        height: size, width: size, tasks: config.tasks)
                validation = SyntheticScenes(dataset: config.dataset, split: .val, count: config.valImages,
                                             height: size, width: size, tasks: config.tasks)
            }
            if config.kind == .trivial {
                return try ConstantPredictors(config: config, train: train, validation: validation)
            }
            return try DenseObjective(config: config, train: train, validation: validation, threads: threads)
        }
    }

    public func run() throws {
        let started = Date()
        ComputeSetup.configure(threads: threads)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let checkpointURL = directory.appendingPathComponent(Checkpoint.fileName)
        let progressURL = directory.appendingPathComponent(RunFiles.progress)

        let objective = try makeObjective(config)
        let optimizer = AdamW(weightDecay: Float(config.weightDecay))
        let steps = config.stepsPerEpoch
        let schedule = WarmupCosineSchedule(
            peak: config.lr, minimum: config.minLR,
            warmupSteps: Int((config.warmupEpochs * Double(steps)).rounded()), totalSteps: config.epochs * steps)

        var firstEpoch = 0
        var epochSeconds: [Double] = []
        var rankHistory: [String: [Int]] = [:]
        var epochGMACs: [Double] = []
        if FileManager.default.fileExists(atPath: checkpointURL.path) {
            let checkpoint = try Checkpoint.read(from: checkpointURL)
            guard checkpoint.configFingerprint == config.fingerprint else {
                throw ConfigError(file: checkpointURL.path, message: "this checkpoint belongs to a different config; "
                                  + "delete it to start the run over")
            }
            try objective.restore(checkpoint.model)
            optimizer.restore(step: checkpoint.optimizerStep, from: checkpoint.optimizer)
            firstEpoch = checkpoint.completedEpochs
            epochSeconds = checkpoint.epochSeconds
            rankHistory = checkpoint.ranks
            epochGMACs = checkpoint.epochGMACs
        }

        let slots = objective.trainableSlots()
        for epoch in firstEpoch..<max(firstEpoch, config.epochs) {
            let epochStart = Date()
            var lossSum = 0.0
            for step in 0..<steps {
                if shouldStop() { throw RunStopped(epoch: epoch, step: step) }
                objective.zeroGradients()
                let loss = try objective.trainStep(epoch: epoch, step: step)
                lossSum += loss
                clipGradientNorm(slots, maxNorm: config.clipGrad)
                optimizer.update(slots, learningRate: Float(schedule.learningRate(at: epoch * steps + step)))
                if config.progressEvery > 0, (step + 1) % config.progressEvery == 0, step + 1 < steps {
                    try appendProgress(ProgressEvent(
                        epoch: epoch, epochs: config.epochs, step: step + 1, steps: steps, loss: loss,
                        elapsed: Date().timeIntervalSince(started), phase: "train"), to: progressURL)
                }
            }
            let ranks = objective.epochEnded(epoch: epoch)
            for (name, rank) in ranks { rankHistory[name, default: []].append(rank) }
            epochSeconds.append(Date().timeIntervalSince(epochStart))
            // Counted after the shrink, like the ranks, and outside the epoch's time: FAAR's cost
            // per epoch (supplementary Fig. 3).
            let gmacs = objective.forwardGMACs()
            epochGMACs.append(gmacs)
            try Checkpoint(completedEpochs: epoch + 1, optimizerStep: optimizer.step, epochSeconds: epochSeconds,
                           configFingerprint: config.fingerprint, model: objective.state(),
                           optimizer: optimizer.state().tensors, ranks: rankHistory,
                           epochGMACs: epochGMACs).write(to: checkpointURL)
            try appendProgress(ProgressEvent(
                epoch: epoch + 1, epochs: config.epochs, step: steps, steps: steps, loss: lossSum / Double(steps),
                elapsed: Date().timeIntervalSince(started), ranks: ranks.isEmpty ? nil : ranks, phase: "train",
                gmacs: gmacs), to: progressURL)
        }

        let (tasks, extra) = try objective.evaluate()
        let metrics = RunMetrics(
            engineVersion: EngineVersion.current, tasks: tasks, parameters: objective.parameterCounts,
            // The last epoch's count is the final model's; count again only when none was kept.
            gmacs: epochGMACs.last ?? objective.forwardGMACs(), epochSeconds: epochSeconds,
            ranks: rankHistory.isEmpty ? nil : rankHistory,
            // A run resumed from a checkpoint that predates the record has no complete series.
            epochGMACs: epochGMACs.count == epochSeconds.count && !epochGMACs.isEmpty ? epochGMACs : nil,
            artifacts: try objective.writeArtifacts(to: directory), extra: extra,
            numerics: Numerics(blas: NumericLibraries.blas, blasCore: NumericLibraries.blasCore,
                               fft: NumericLibraries.fft, threads: threads))
        try ContractJSON.writeAtomically(try ContractJSON.encoder().encode(metrics),
                                         to: directory.appendingPathComponent(RunFiles.metrics))
    }

    private func appendProgress(_ event: ProgressEvent, to url: URL) throws {
        var line = try ContractJSON.encoder().encode(event)
        line.append(UInt8(ascii: "\n"))
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }
}

extension RunConfig {
    /// The config's keys as canonical JSON: equal configs, equal fingerprints. Numbers are
    /// written as the engine reads them (`JSONValue.engineNumbers`: 1 and 1.0 are one number), so
    /// the fingerprints of checkpoints written before the engine shared `sweep`'s JSONValue still match.
    public var fingerprint: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(values.mapValues(\.engineNumbers))) ?? Data(), as: UTF8.self)
    }
}
