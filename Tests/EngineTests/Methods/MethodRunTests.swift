import Foundation
import RunContract
import Tensors
import Testing
@testable import Engine

@Suite struct MethodRunTests {
    func run(_ json: String, stopAfter steps: Int? = nil, in directory: URL) throws {
        let config = try RunConfig.parse(Data(json.utf8), file: "config.json")
        var taken = 0
        try RunDriver(config: config, directory: directory, threads: 1,
                      shouldStop: { taken += 1; return steps.map { taken > $0 } ?? false }).run()
    }

    /// Runs `json` whole in one directory and, in another, stops it one step into its second
    /// epoch and resumes it: the two must end bit-identical. The caller removes both.
    func wholeAndResumed(_ json: String) throws -> (whole: URL, resumed: URL) {
        let whole = temporaryRunDirectory(), resumed = temporaryRunDirectory()
        try run(json, in: whole)
        let steps = try RunConfig.parse(Data(json.utf8), file: "config.json").stepsPerEpoch
        #expect(throws: RunStopped.self) { try run(json, stopAfter: steps + 1, in: resumed) }
        try run(json, in: resumed)
        return (whole, resumed)
    }

    /// One line per tensor that is not bit-identical in both: how many values differ and by how
    /// much at most (a failure names the tensors instead of printing megabytes of them).
    func tensorDifferences(_ a: [String: StoredTensor], _ b: [String: StoredTensor]) -> [String] {
        Set(a.keys).union(b.keys).sorted().compactMap { name in
            guard let x = a[name], let y = b[name] else { return "\(name): only in \(a[name] == nil ? "the second" : "the first")" }
            guard x.shape == y.shape else { return "\(name): shapes \(x.shape) and \(y.shape)" }
            let pairs = zip(x.values, y.values).filter { $0.bitPattern != $1.bitPattern }
            guard !pairs.isEmpty else { return nil }
            let largest = pairs.map { abs(Double($0) - Double($1)) }.max()!
            return "\(name): \(pairs.count) of \(x.values.count) values, max |Δ| \(String(format: "%.3g", largest))"
        }
    }

    func metrics(in directory: URL) throws -> RunMetrics {
        try JSONDecoder().decode(RunMetrics.self, from: Data(contentsOf: directory.appendingPathComponent(RunFiles.metrics)))
    }

    /// A run's bits do not depend on the thread count: FAAR (DoRA adapters, PDRS, TS-PD's
    /// spectra, XT-Cons, the four heads and losses side by side) with every loop, GEMM and spread
    /// split three ways ends with the metrics and every tensor of the 1-thread run.
    @Test func runGivesTheSameBitsAtAnyThreadCount() throws {
        let json = #"{"kind": "mtl_full", "profile": "smoke", "epochs": 2, "seed": 5, "method": "faar", "adapter": "dora", "pdrs": true, "ts_pd": true, "xt_cons": true}"#
        let serial = temporaryRunDirectory(), split = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: serial); try? FileManager.default.removeItem(at: split) }
        try run(json, in: serial)
        try ComputeThreads.$chunksInThisTask.withValue(3) { try run(json, in: split) }

        let a = try metrics(in: serial), b = try metrics(in: split)
        #expect(a.tasks == b.tasks && a.ranks == b.ranks)
        let weightsA = try Checkpoint.read(from: serial.appendingPathComponent(Checkpoint.fileName))
        let weightsB = try Checkpoint.read(from: split.appendingPathComponent(Checkpoint.fileName))
        let models = tensorDifferences(weightsA.model, weightsB.model)
        #expect(models.isEmpty, "\(models.count) model tensors differ: \(models.prefix(8).joined(separator: "; "))")
        let optimizers = tensorDifferences(weightsA.optimizer, weightsB.optimizer)
        #expect(optimizers.isEmpty, "\(optimizers.count) optimizer tensors differ: \(optimizers.prefix(8).joined(separator: "; "))")
    }

    @Test func rankShrinkingRunLogsRanksShrinksAndResumesBitIdentically() throws {
        let json = #"{"kind": "mtl_full", "profile": "smoke", "epochs": 3, "seed": 5, "method": "lora", "adapter": "dora", "rank": 8, "pdrs": true, "rho_shared": 0.8}"#
        let (whole, interrupted) = try wholeAndResumed(json)
        defer { try? FileManager.default.removeItem(at: whole); try? FileManager.default.removeItem(at: interrupted) }

        let a = try metrics(in: whole), b = try metrics(in: interrupted)
        #expect(a.tasks == b.tasks && a.parameters == b.parameters && a.gmacs == b.gmacs)
        #expect(a.ranks == b.ranks)
        let ranks = try #require(a.ranks)
        #expect(ranks.count == 16)                                    // qkv, proj, fc1, fc2 of 4 blocks
        #expect(ranks.values.allSatisfy { $0.count == 3 && $0.allSatisfy { (1...8).contains($0) } })
        #expect(ranks.values.allSatisfy { zip($0, $0.dropFirst()).allSatisfy { $0 >= $1 } })   // never grow
        #expect(ranks.values.contains { $0.last! < 8 })
        // No shrink after the last epoch: the evaluated model is the one trained at its ranks.
        #expect(ranks.values.allSatisfy { $0[2] == $0[1] })
        // The cost per epoch follows the ranks down and ends at the run's GMACs; counting it
        // between epochs must not change training (the resumed run counts one time fewer).
        let epochGMACs = try #require(a.epochGMACs)
        #expect(b.epochGMACs == epochGMACs && epochGMACs.count == 3 && epochGMACs.last == a.gmacs)
        #expect(zip(epochGMACs, epochGMACs.dropFirst()).allSatisfy { $0 >= $1 } && epochGMACs.last! < epochGMACs.first!)
        let weightsA = try Checkpoint.read(from: whole.appendingPathComponent(Checkpoint.fileName))
        let weightsB = try Checkpoint.read(from: interrupted.appendingPathComponent(Checkpoint.fileName))
        let models = tensorDifferences(weightsA.model, weightsB.model)
        #expect(models.isEmpty, "\(models.count) model tensors differ: \(models.prefix(8).joined(separator: "; "))")
        #expect(weightsA.model.keys.contains { $0.hasPrefix("pdrs.") })
    }

    @Test func loraRunTrainsOnlyAdaptersOthersAndDecoders() throws {
        let directory = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try run(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 1, "method": "lora", "rank": 4, "others_trainable": false}"#,
                in: directory)
        let full = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: full) }
        try run(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 1}"#, in: full)
        let lora = try metrics(in: directory).parameters, reference = try metrics(in: full).parameters
        #expect(lora.decoder == reference.decoder && lora.backbone == reference.backbone)
        #expect(lora.trainable > lora.decoder && lora.trainable < reference.trainable)
        #expect(lora.total - reference.total == lora.trainable - lora.decoder)   // adapters are the only new values
        #expect(try metrics(in: directory).ranks == nil)
    }
}

@Suite struct SpectralRunTests {
    @Test func loraWithTSPDAndXTConsTrainsAndCountsItsDecoderParameters() throws {
        let base = #"{"kind": "mtl_full", "profile": "smoke", "epochs": 1, "method": "lora", "rank": 2"#
        let plain = temporaryRunDirectory(), spectral = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(at: plain); try? FileManager.default.removeItem(at: spectral) }
        try MethodRunTests().run(base + "}", in: plain)
        let json = base + #", "ts_pd": true, "xt_cons": true}"#
        try MethodRunTests().run(json, in: spectral)
        let config = try RunConfig.parse(Data(json.utf8), file: "config.json")
        let a = try MethodRunTests().metrics(in: plain).parameters, b = try MethodRunTests().metrics(in: spectral).parameters
        // Decoder inputs: C at stage 2, 3 and 4 (twice: after the last stage too), sides image/8, /16, /32, /32.
        let dims = config.backbone.stageDims, side = config.imageSize / 4
        let inputs = [(dims[1], side / 2), (dims[2], side / 4), (dims[3], side / 8), (dims[3], side / 8)]
        let perTask = inputs.map { c, s in c * s * (s / 2 + 1) + 2 * c + 2 }.reduce(0, +)
        #expect(b.decoder - a.decoder == config.tasks.count * perTask)
        #expect(b.trainable - a.trainable == config.tasks.count * perTask)
        let checkpoint = try Checkpoint.read(from: spectral.appendingPathComponent(Checkpoint.fileName))
        #expect(checkpoint.model.keys.contains("decoders.semseg.ts_pd.0.filter"))
    }
}
