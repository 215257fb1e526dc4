import Foundation
import Tensors
import RunContract
import Testing
@testable import Engine

/// Least squares on data that is a pure function of (seed, epoch, step): small enough to test the
/// loop's checkpoint, resume and stop logic apart from the models.
final class LeastSquaresObjective: TrainingObjective {
    var weights = [Float](repeating: 0, count: 4)
    var gradient = [Float](repeating: 0, count: 4)
    let seed: Int
    init(seed: Int) { self.seed = seed }

    func sample(_ epoch: Int, _ step: Int, _ i: Int) -> (x: [Float], y: Float) {
        var generator = SeededRandom(seed: UInt64(seed * 1_000_003 + epoch * 10_007 + step * 101 + i))
        let x = (0..<4).map { _ in Float(generator.unit()) - 0.5 }
        return (x, 2 * x[0] - x[1] + 0.5 * x[3])
    }
    func trainableSlots() -> [ParameterSlot] {
        [ParameterSlot(name: "w", values: weights.withUnsafeMutableBufferPointer { $0 },
                       gradient: gradient.withUnsafeMutableBufferPointer { $0 }, decays: true)]
    }
    func zeroGradients() { for i in gradient.indices { gradient[i] = 0 } }
    func trainStep(epoch: Int, step: Int) -> Double {
        var loss: Float = 0
        for i in 0..<8 {
            let (x, y) = sample(epoch, step, i)
            let error = zip(weights, x).map(*).reduce(0, +) - y
            loss += error * error / 8
            for j in 0..<4 { gradient[j] += 2 * error * x[j] / 8 }
        }
        return Double(loss)
    }
    func epochEnded(epoch: Int) -> [String: Int] { [:] }
    func evaluate() -> (tasks: [String: TaskMetric], extra: [String: Double]) {
        (["fit": TaskMetric(name: "w0", value: Double(weights[0]), direction: .higher)], [:])
    }
    func state() -> [String: StoredTensor] { ["w": StoredTensor(shape: [4], values: weights)] }
    func restore(_ state: [String: StoredTensor]) throws { weights = state["w"]!.values }
    var parameterCounts: ParameterCounts { ParameterCounts(trainable: 4, total: 4, decoder: 0, backbone: 4) }
    func forwardGMACs() -> Double { 4e-9 }
    func writeArtifacts(to directory: URL) throws -> [String: String] { [:] }
}

func temporaryRunDirectory() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("mtl-engine-test-\(UUID().uuidString)")
}

@Test func interruptedRunResumesToTheSameResult() throws {
    let config = try RunConfig.parse(Data(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 3, "train_images": 32, "batch_size": 8}"#.utf8), file: "config.json")
    let whole = temporaryRunDirectory(), interrupted = temporaryRunDirectory()
    defer { try? FileManager.default.removeItem(at: whole); try? FileManager.default.removeItem(at: interrupted) }

    try RunDriver(config: config, directory: whole, threads: 1,
                  makeObjective: { LeastSquaresObjective(seed: $0.seed) }).run()

    // Stop in the middle of the second epoch, as SIGTERM would.
    var stepsTaken = 0
    #expect(throws: RunStopped.self) {
        try RunDriver(config: config, directory: interrupted, threads: 1,
                      makeObjective: { LeastSquaresObjective(seed: $0.seed) },
                      shouldStop: { stepsTaken += 1; return stepsTaken > 6 }).run()
    }
    #expect(!FileManager.default.fileExists(atPath: interrupted.appendingPathComponent(RunFiles.metrics).path))
    let kept = try Checkpoint.read(from: interrupted.appendingPathComponent(Checkpoint.fileName))
    #expect(kept.completedEpochs == 1 && kept.optimizerStep == 4)

    try RunDriver(config: config, directory: interrupted, threads: 1,
                  makeObjective: { LeastSquaresObjective(seed: $0.seed) }).run()

    let a = try JSONDecoder().decode(RunMetrics.self, from: Data(contentsOf: whole.appendingPathComponent(RunFiles.metrics)))
    let b = try JSONDecoder().decode(RunMetrics.self, from: Data(contentsOf: interrupted.appendingPathComponent(RunFiles.metrics)))
    #expect(a.tasks == b.tasks)
    #expect(b.epochSeconds.count == 3)
    let weightsA = try Checkpoint.read(from: whole.appendingPathComponent(Checkpoint.fileName)).model
    let weightsB = try Checkpoint.read(from: interrupted.appendingPathComponent(Checkpoint.fileName)).model
    #expect(weightsA == weightsB)
    let progress = ContractJSON.readProgress(at: interrupted.appendingPathComponent(RunFiles.progress))
    #expect(progress.map(\.epoch) == [1, 2, 3])
}

@Test func checkpointOfAnotherConfigIsRefused() throws {
    let directory = temporaryRunDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let first = try RunConfig.parse(Data(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 1}"#.utf8), file: "c")
    try RunDriver(config: first, directory: directory, threads: 1,
                  makeObjective: { LeastSquaresObjective(seed: $0.seed) }).run()
    let second = try RunConfig.parse(Data(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 2}"#.utf8), file: "c")
    #expect(throws: ConfigError.self) {
        try RunDriver(config: second, directory: directory, threads: 1,
                      makeObjective: { LeastSquaresObjective(seed: $0.seed) }).run()
    }
}
