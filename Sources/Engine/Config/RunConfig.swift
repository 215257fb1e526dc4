import Foundation
import RunContract

/// A validated run configuration: every key checked against `ConfigSchema`, the profile's
/// values filled in where the config is silent, and the cross-key rules enforced.
public struct RunConfig: Sendable {
    public var kind: RunKind
    public var profile: Profile
    public var seed: Int
    public var dataset: DatasetName
    public var dataRoot: String?
    public var tasks: [TaskName]
    public var pretrainSet: String
    public var pretrained: String?
    public var backbone: BackboneShape
    public var imageSize: Int
    public var decoder: DecoderKind
    public var decoderChannels: [Int]
    public var epochs: Int
    public var batchSize: Int
    public var trainImages: Int
    public var valImages: Int
    public var lr: Double
    public var minLR: Double
    public var weightDecay: Double
    public var warmupEpochs: Double
    public var clipGrad: Double
    /// The decoder heads' learning rate over the backbone's (dense kinds).
    public var decoderLRScale: Double
    public var lossWeights: [TaskName: Double]
    public var progressEvery: Int
    /// The adapter method and its options (Methods/MethodConfig.swift), parsed with the rest.
    public var method: MethodOptions
    /// The decoder heads' kind and widths, parsed with the rest.
    public var decoderSpec: DecoderSpec
    /// Every key as written: the config's fingerprint, and the method keys' own parsing.
    public var values: [String: JSONValue]

    /// Reads and validates `url`; errors name the file, the key's line and what was expected.
    /// `dependenciesPending`: checking a config before its sweep runs (`--validate-config`), when
    /// paths into dependencies' run directories are still `run://` references.
    public static func load(from url: URL, dependenciesPending: Bool = false) throws -> RunConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigError(file: url.path, message: "cannot read the config: \(error.localizedDescription)")
        }
        return try parse(data, file: url.path, dependenciesPending: dependenciesPending)
    }

    public static func parse(_ data: Data, file: String, dependenciesPending: Bool = false) throws -> RunConfig {
        let text = String(decoding: data, as: UTF8.self)
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw ConfigError(file: file, message: "not valid JSON: \(describe(decodingError: error))")
        }
        guard case .object(let written) = root else {
            throw ConfigError(file: file, line: 1, message: "expected a JSON object of keys, got \(root.canonical)")
        }
        // A key set to null is not set: a manifest's profile can take back a key its groups set
        // (experiments/common.yaml's `paper` profile drops the bundled backbone for `pretrained`).
        let values = written.filter { if case .null = $0.value { return false } else { return true } }
        func fail(_ key: String?, _ message: String) -> ConfigError {
            ConfigError(file: file, line: key.flatMap { lineOfKey($0, in: text) }, key: key, message: message)
        }

        let schema = ConfigSchema.byName
        for key in values.keys.sorted() {
            guard let spec = schema[key] else {
                let hint = Spelling.closest(to: key, among: Array(schema.keys)).map { "did you mean '\($0)'? " } ?? ""
                throw fail(key, "unknown key; \(hint)known keys: \(schema.keys.sorted().joined(separator: ", "))")
            }
            if let problem = spec.check(values[key]!, dependenciesPending: dependenciesPending) { throw fail(key, problem) }
        }

        // Written values, or the defaults the schema declares; presence checks read `values`.
        let read = ConfigReader(written: values)
        func string(_ key: String) -> String? { read.string(key) }
        func number(_ key: String) -> Double? { read.number(key) }
        func integer(_ key: String) -> Int? { read.integer(key) }
        func integers(_ key: String) -> [Int]? { read.integers(key) }

        guard let kindName = string("kind") else {
            throw fail(nil, "missing key 'kind'; expected \(schema["kind"]!.expectation)")
        }
        let kind = RunKind(rawValue: kindName)!
        let profile = Profile(rawValue: string("profile")!)!
        let scale = kind == .pretrain ? profile.pretrainValues : profile.values
        let dataset = DatasetName(rawValue: string("dataset")!)!

        var tasks = dataset.tasks
        if case .array(let names) = values["tasks"] {
            tasks = names.compactMap { if case .string(let s) = $0 { return TaskName(rawValue: s) } else { return nil } }
            if let foreign = tasks.first(where: { !dataset.tasks.contains($0) }) {
                throw fail("tasks", "task \"\(foreign.rawValue)\" is not in dataset \(dataset.rawValue), whose tasks are "
                           + dataset.tasks.map(\.rawValue).joined(separator: ", "))
            }
        }
        switch kind {
        case .singleTask:
            guard let name = string("task"), let task = TaskName(rawValue: name) else {
                throw fail("task", "a single_task run needs key 'task': one of "
                           + dataset.tasks.map(\.rawValue).joined(separator: ", "))
            }
            guard dataset.tasks.contains(task) else {
                throw fail("task", "task \"\(name)\" is not in dataset \(dataset.rawValue), whose tasks are "
                           + dataset.tasks.map(\.rawValue).joined(separator: ", "))
            }
            if values["tasks"] != nil { throw fail("tasks", "a single_task run takes 'task', not 'tasks'") }
            tasks = [task]
        default:
            if values["task"] != nil {
                throw fail("task", "only single_task runs take 'task'; use 'tasks' for kind \(kind.rawValue)")
            }
        }
        if kind == .mtlDecoders || kind == .taskSimilarity, values["pretrained"] == nil, values["backbone_weights"] == nil {
            throw fail("pretrained", "kind \(kind.rawValue) freezes the backbone, so it needs 'pretrained' (the path of "
                       + "a backbone.safetensors) or 'backbone_weights' (one the engine ships)")
        }
        if values["pretrained"] != nil, values["backbone_weights"] != nil {
            throw fail("backbone_weights", "give 'pretrained' or 'backbone_weights', not both")
        }
        if kind == .pretrain || kind == .trivial, values["backbone_weights"] != nil {
            throw fail("backbone_weights", "kind \(kind.rawValue) loads no pretrained backbone")
        }
        // A bundled backbone is checked against its recorded SHA-256 before anything runs.
        let pretrained = try string("backbone_weights").map { try BundledWeights.verifiedPath($0, configFile: file) }
            ?? string("pretrained")
        if kind != .pretrain, values["pretrain_set"] != nil {
            throw fail("pretrain_set", "only pretrain runs take 'pretrain_set'")
        }

        let backboneName = string("backbone") ?? scale.backbone
        var backbone = BackboneShape.named(backboneName)!
        if backbone.family == .pvtV2 {
            // PVT-v2's stage widths are its shape's own (not C doubling) and it has no windows.
            for key in ["embed_dim", "window"] where values[key] != nil {
                throw fail(key, "backbone \(backboneName) is PVT-v2, which has no '\(key)' (Swin's); its stage widths "
                           + "are \(backbone.widths); choose a pvt_v2 shape or a Swin backbone")
            }
        }
        if let c = integer("embed_dim") { backbone.embedDim = c; backbone.name = "custom" }
        if let d = integers("depths") { backbone.depths = d; backbone.name = "custom" }
        if let h = integers("heads") { backbone.heads = h; backbone.name = "custom" }
        if let w = integer("window") { backbone.window = w; backbone.name = "custom" }
        for (stage, (dim, heads)) in zip(backbone.stageDims, backbone.heads).enumerated() where dim % heads != 0 {
            throw fail(values["heads"] != nil ? "heads" : "embed_dim",
                       "stage \(stage + 1) has \(dim) channels, not divisible by its \(heads) heads")
        }
        let imageSize = integer("image_size") ?? scale.imageSize
        if imageSize % 32 != 0 {
            throw fail("image_size", "expected a multiple of 32 (patch 4, then three 2x2 merges), got \(imageSize)")
        }
        // PVT-v2's reductions (8, 4, 2, 1) divide every stage side of a multiple of 32.
        for stage in 0..<4 where backbone.family == .swin {
            let side = (imageSize / 4) >> stage
            if side > backbone.window, side % backbone.window != 0 {
                throw fail(values["window"] != nil ? "window" : "image_size",
                           "stage \(stage + 1) is \(side)x\(side), which windows of \(backbone.window) do not tile; "
                           + "choose image_size and window so each stage side is a multiple of the window or at most it")
            }
        }
        let decoderChannels = integers("decoder_channels") ?? DecoderSpec.defaultChannels(embedDim: backbone.embedDim)

        var lossWeights = Dictionary(uniqueKeysWithValues: tasks.map { ($0, $0.paperLossWeight) })
        if case .object(let members) = values["loss_weights"] {
            for (name, weight) in members {
                let task = TaskName(rawValue: name)!
                guard tasks.contains(task) else {
                    throw fail("loss_weights", "task \"\(name)\" is not a task of this run ("
                               + tasks.map(\.rawValue).joined(separator: ", ") + ")")
                }
                if let w = weight.doubleValue { lossWeights[task] = w }
            }
        }
        var trainImages = integer("train_images") ?? scale.trainImages
        var valImages = integer("val_images") ?? scale.valImages
        if let root = string("data_root") {
            guard kind != .pretrain else {
                throw fail("data_root", "pretrain runs use the synthetic upstream set; data_root is for "
                           + "single_task, mtl_full and mtl_decoders runs")
            }
            // A real split's size is its list's; train_images / val_images, when given, take a prefix.
            func splitSize(_ split: DataSplit, limit key: String) throws -> Int {
                let listed: Int
                do { listed = try RealDataSets.count(dataset, root: URL(fileURLWithPath: root), split: split) } catch {
                    throw fail("data_root", "\(error) (a \(dataset.rawValue) layout, see docs/data.md)")
                }
                guard listed > 0 else {
                    throw fail("data_root", "\(RealDataSets.splitList(dataset, root: URL(fileURLWithPath: root), split: split).path) "
                               + "lists no image ids")
                }
                return min(integer(key) ?? listed, listed)
            }
            trainImages = try splitSize(.train, limit: "train_images")
            valImages = try splitSize(.val, limit: "val_images")
        }
        let lr = number("lr") ?? scale.lr
        let minLR = number("min_lr") ?? lr * 0.01
        if minLR > lr { throw fail("min_lr", "must not exceed lr (\(lr)), got \(minLR)") }

        var config = RunConfig(
            kind: kind, profile: profile, seed: integer("seed")!, dataset: dataset,
            dataRoot: string("data_root"), tasks: tasks, pretrainSet: string("pretrain_set")!,
            pretrained: pretrained, backbone: backbone, imageSize: imageSize,
            decoder: DecoderKind(rawValue: string("decoder")!)!,
            decoderChannels: decoderChannels, epochs: integer("epochs") ?? scale.epochs,
            batchSize: integer("batch_size") ?? scale.batchSize,
            trainImages: trainImages, valImages: valImages,
            lr: lr, minLR: minLR, weightDecay: number("weight_decay")!,
            warmupEpochs: number("warmup_epochs") ?? scale.warmupEpochs,
            clipGrad: number("clip_grad")!, decoderLRScale: number("decoder_lr_scale")!,
            lossWeights: lossWeights,
            progressEvery: integer("progress_every")!,
            method: MethodOptions(method: .full),
            decoderSpec: .defaults(.hrnet, embedDim: backbone.embedDim, imageSize: imageSize), values: values)
        // The method and decoder keys' own rules (which keys go with which choice), with the key's
        // line; they read the core fields above, so they are parsed last, once.
        config.method = try MethodOptions(config: config, file: file, text: text, dependenciesPending: dependenciesPending)
        config.decoderSpec = try DecoderSpec(config: config, file: file, text: text)
        return config
    }

    /// Steps per epoch: the last partial batch is dropped so every step sees `batchSize` images.
    public var stepsPerEpoch: Int { max(1, trainImages / batchSize) }

    private static func describe(decodingError error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            return (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
                ?? context.debugDescription
        }
        return String(describing: error)
    }
}
