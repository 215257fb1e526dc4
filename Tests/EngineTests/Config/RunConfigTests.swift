import Foundation
import Testing
@testable import Engine
import RunContract

private func parse(_ json: String) throws -> RunConfig {
    try RunConfig.parse(Data(json.utf8), file: "runs/x/config.json")
}

private func error(_ json: String) -> ConfigError? {
    do { _ = try parse(json); return nil } catch let error as ConfigError { return error } catch { return nil }
}

@Test func profileValuesFillWhatTheConfigLeavesOut() throws {
    let config = try parse(#"{"kind": "mtl_full", "profile": "smoke", "epochs": 3}"#)
    #expect(config.epochs == 3)
    #expect(config.imageSize == Profile.smoke.values.imageSize)
    #expect(config.backbone.name == "swin_nano")
    #expect(config.tasks == [.semseg, .humanParts, .saliency, .normals])
    #expect(config.lossWeights[.normals] == 10 && config.lossWeights[.saliency] == 5)
    #expect(config.weightDecay == 0.05 && config.clipGrad == 5)
}

@Test func unknownKeyNamesTheLineAndSuggestsTheClosestKey() throws {
    let found = try #require(error("{\n  \"kind\": \"mtl_full\",\n  \"epoch\": 3\n}"))
    #expect(found.key == "epoch")
    #expect(found.line == 3)
    #expect(found.description.hasPrefix("runs/x/config.json:3: key 'epoch': unknown key; did you mean 'epochs'?"))
}

@Test func badChoiceListsTheAllowedValuesWithASuggestion() throws {
    let found = try #require(error(#"{"kind": "mtl_ful"}"#))
    #expect(found.key == "kind")
    #expect(found.message.contains("one of pretrain, single_task, mtl_full, mtl_decoders"))
    #expect(found.message.contains("did you mean 'mtl_full'?"))
}

@Test func valuesOutOfRangeAndOfTheWrongTypeAreRejected() {
    #expect(error(#"{"kind": "mtl_full", "epochs": 0}"#)?.message.contains("an integer in 1...") == true)
    #expect(error(#"{"kind": "mtl_full", "epochs": 2.5}"#)?.key == "epochs")
    #expect(error(#"{"kind": "mtl_full", "lr": "fast"}"#)?.key == "lr")
    #expect(error(#"{"kind": "mtl_full", "depths": [2, 2, 6]}"#)?.message.contains("4 integers") == true)
    #expect(error(#"{"kind": "mtl_full", "tasks": ["semseg", "semsge"]}"#)?.message.contains("did you mean 'semseg'") == true)
    #expect(error(#"{"kind": "mtl_full", "pretrained": "/no/such/file.safetensors"}"#)?.message.contains("no file at") == true)
    #expect(error("[1, 2]")?.message.contains("expected a JSON object") == true)
    #expect(error("{\"kind\": ")?.message.contains("not valid JSON") == true)
    #expect(error("{}")?.message.contains("missing key 'kind'") == true)
}

@Test func crossKeyRulesAreEnforced() {
    #expect(error(#"{"kind": "single_task"}"#)?.key == "task")
    #expect(error(#"{"kind": "single_task", "task": "depth"}"#)?.message.contains("not in dataset pascal") == true)
    #expect(error(#"{"kind": "mtl_full", "task": "semseg"}"#)?.key == "task")
    #expect(error(#"{"kind": "mtl_decoders"}"#)?.key == "pretrained")
    #expect(error(#"{"kind": "mtl_full", "dataset": "nyud", "tasks": ["saliency"]}"#)?.key == "tasks")
    #expect(error(#"{"kind": "mtl_full", "image_size": 48}"#)?.message.contains("multiple of 32") == true)
    #expect(error(#"{"kind": "mtl_full", "embed_dim": 30, "heads": [4, 4, 4, 4]}"#)?.key == "heads")
    #expect(error(#"{"kind": "mtl_full", "window": 3, "image_size": 64}"#)?.key == "window")
    #expect(error(#"{"kind": "mtl_full", "loss_weights": {"depth": 1}}"#)?.key == "loss_weights")
}

@Test func singleTaskAndNyudConfigsParse() throws {
    let single = try parse(#"{"kind": "single_task", "task": "normals", "seed": 7}"#)
    #expect(single.tasks == [.normals] && single.seed == 7)
    let nyud = try parse(#"{"kind": "mtl_full", "dataset": "nyud", "loss_weights": {"depth": 2}}"#)
    #expect(nyud.tasks == [.semseg, .depth, .normals])
    #expect(nyud.lossWeights[.depth] == 2)
    let paper = try parse(#"{"kind": "mtl_full", "profile": "paper"}"#)
    #expect(paper.backbone == BackboneShape.named("swin_t"))
    #expect(paper.decoderChannels == [18, 36, 72, 144])
}

@Test func fingerprintIgnoresKeyOrder() throws {
    let a = try parse(#"{"kind": "mtl_full", "seed": 1}"#)
    let b = try parse(#"{"seed": 1, "kind": "mtl_full"}"#)
    let c = try parse(#"{"seed": 2, "kind": "mtl_full"}"#)
    #expect(a.fingerprint == b.fingerprint)
    #expect(a.fingerprint != c.fingerprint)
}

/// A manifest profile can take back a key its groups set by setting it to null (common.yaml's
/// `paper` profile replaces the bundled backbone with `pretrained`).
@Test func aKeySetToNullIsNotSet() throws {
    let weights = FileManager.default.temporaryDirectory.appendingPathComponent("weights-\(UUID().uuidString).safetensors")
    try Data().write(to: weights)
    defer { try? FileManager.default.removeItem(at: weights) }
    let config = try parse(#"{"kind": "mtl_decoders", "profile": "smoke", "backbone_weights": null, "pretrained": "\#(weights.path)"}"#)
    #expect(config.pretrained == weights.path && config.values["backbone_weights"] == nil)
    #expect(config.fingerprint == (try parse(#"{"kind": "mtl_decoders", "profile": "smoke", "pretrained": "\#(weights.path)"}"#)).fingerprint)
    #expect(error(#"{"kind": "mtl_decoders", "profile": "smoke", "backbone_weights": null}"#)?.key == "pretrained")
}

/// docs/engine.md and docs/methods.md hold the key tables `mtl-engine keys core` / `methods`
/// print, between `<!-- mtl-engine keys PART -->` and `<!-- end of mtl-engine keys PART -->`.
@Test func theDocsKeyTablesAreTheDeclarations() throws {
    let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs")
    for (file, part, keys) in [("engine.md", "core", ConfigSchema.coreKeys), ("methods.md", "methods", ConfigSchema.methodKeys)] {
        let text = try String(contentsOf: docs.appendingPathComponent(file), encoding: .utf8)
        let begin = "<!-- mtl-engine keys \(part) -->\n", end = "<!-- end of mtl-engine keys \(part) -->"
        let table = try #require(text.range(of: begin).flatMap { start in
            text.range(of: end, range: start.upperBound..<text.endIndex).map { String(text[start.upperBound..<$0.lowerBound]) }
        }, "docs/\(file) lacks the markers \(begin)")
        #expect(table == ConfigSchema.table(keys),
                "docs/\(file)'s key table is not the declarations'; paste the output of `swift run mtl-engine keys \(part)`")
    }
    let engine = try String(contentsOf: docs.appendingPathComponent("engine.md"), encoding: .utf8)
    for kind in RunKind.allCases { #expect(engine.contains("`\(kind.rawValue)`"), "docs/engine.md lacks kind \(kind.rawValue)") }
}

/// A declared default is a value its own key accepts, and every key renders a default.
@Test func declaredDefaultsAreValidValues() {
    for key in ConfigSchema.keys {
        if case .value(let value) = key.defaultValue { #expect(key.check(value) == nil, "\(key.name)'s default \(value.canonical)") }
        #expect(!key.defaultText.isEmpty, "\(key.name) renders no default")
    }
    #expect(ConfigSchema.key("rank").defaultText == "16; faar: 32")
    #expect(ConfigSchema.key("lora_dropout").defaultText == "0; mtlora, tglora, faar: 0.05")
    #expect(ConfigSchema.key("epochs").defaultText.hasPrefix("the profile's: smoke 2, default 10, paper 300"))
}

/// `sweep` knows the engine's keys and scales through RunContract (it does not link the engine):
/// the two lists must not drift apart.
@Test func theRunContractListsEveryConfigKeyAndScale() throws {
    #expect(Set(ConfigSchema.keys.map(\.name)) == BundledEngine.configKeys)
    #expect(Profile.allCases.map(\.rawValue) == BundledEngine.scales)
    #expect(Dictionary(uniqueKeysWithValues: DatasetName.allCases.map { ($0.rawValue, $0.tasks.map(\.rawValue)) })
        == BundledEngine.datasetTasks)
    #expect(try parse(#"{"kind": "mtl_full"}"#).dataset.rawValue == BundledEngine.defaultDataset)
}
