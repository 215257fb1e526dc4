import Foundation
import Testing
@testable import Engine

/// FAAR makes TS-PD (its filters, and XT-Cons's alphas) part of the decoder: they learn at the
/// heads' `decoder_lr_scale`, the adapters at the schedule's rate.
@Test func spectralDecoderPartsLearnAtTheHeadsRate() throws {
    let config = try RunConfig.parse(Data(#"{"kind": "mtl_full", "profile": "smoke", "method": "faar", "decoder_lr_scale": 10}"#.utf8),
                                     file: "config.json")
    let objective = try #require(try RunDriver.objective(for: config, threads: 1) as? DenseObjective)
    let scales = Dictionary(uniqueKeysWithValues: objective.trainableSlots().map { ($0.name, $0.learningRateScale) })
    let spectral = scales.filter { $0.key.contains(".ts_pd.") || $0.key.contains(".xt_cons.") }
    #expect(spectral.contains { $0.key.hasSuffix(".filter") } && spectral.contains { $0.key.hasSuffix(".alpha") })
    #expect(spectral.values.allSatisfy { $0 == 10 })
    let heads = scales.filter { $0.key.hasPrefix("decoders.") && !spectral.keys.contains($0.key) }
    #expect(!heads.isEmpty && heads.values.allSatisfy { $0 == 10 })
    let adapters = scales.filter { $0.key.contains(".lora_") }
    #expect(!adapters.isEmpty && adapters.values.allSatisfy { $0 == 1 })
}
