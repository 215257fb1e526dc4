import Foundation
import RunContract

/// One key a run's `config.json` may contain: the values it accepts, its default and what it
/// means. This declaration is the key's only description: `RunConfig.parse` checks values against
/// it and reads fixed defaults from it, and `mtl-engine keys` and the key tables of
/// docs/engine.md and docs/methods.md are rendered from it (`ConfigSchema.table`).
public struct ConfigKey: Sendable {
    public enum Accepted: Sendable {
        case integer(ClosedRange<Int>)
        case real(ClosedRange<Double>)
        case choice([String])
        /// A non-empty list of distinct names, each from the set.
        case names([String])
        /// A list of `count` integers, each in the range.
        case integers(count: Int, each: ClosedRange<Int>)
        /// A path to an existing file.
        case file
        /// A path to an existing directory.
        case directory
        case bool
        /// An object mapping names from the set to numbers in the range.
        case weights([String], ClosedRange<Double>)
        /// An object mapping any names to paths of existing directories.
        case directories
        /// A list of `stages` stages, each a non-empty list of groups, each a non-empty list of
        /// names from the set (TGLoRA's explicit task groups).
        case nameGroups(stages: Int, names: [String])
    }

    /// What a run uses when its config leaves the key out.
    public enum Default: Sendable {
        /// None: the run is refused.
        case required
        /// Nothing: what the key would set is not used (or, as the summary says, needed).
        case none
        /// This value; `RunConfig.parse` reads it from here (`ConfigReader`).
        case value(JSONValue)
        /// The profile's value (`Profile.values`, `Profile.pretrainValues`), rendered from them.
        case profile(@Sendable (Profile.Values) -> String)
        /// The method's preset (`MethodOptions.defaults(for:)`), rendered from it; nil for a
        /// method that does not take the key.
        case method(@Sendable (MethodOptions) -> String?)
        /// Computed from other keys, as the text says.
        case rule(String)
    }

    public var name: String
    public var accepted: Accepted
    public var defaultValue: Default
    public var summary: String

    public init(_ name: String, _ accepted: Accepted, default defaultValue: Default, _ summary: String) {
        self.name = name; self.accepted = accepted; self.defaultValue = defaultValue; self.summary = summary
    }

    /// What the key accepts, as a phrase for error messages and `--help`.
    public var expectation: String {
        switch accepted {
        case .integer(let range): return "an integer in \(range.lowerBound)...\(range.upperBound)"
        case .real(let range): return "a number in \(range.lowerBound)...\(range.upperBound)"
        case .choice(let names): return "one of " + names.joined(separator: ", ")
        case .names(let names): return "a list of distinct names from " + names.joined(separator: ", ")
        case .integers(let count, let each):
            return "a list of \(count) integers in \(each.lowerBound)...\(each.upperBound)"
        case .file: return "the path of an existing file"
        case .directory: return "the path of an existing directory"
        case .bool: return "true or false"
        case .weights(let names, let range):
            return "an object mapping \(names.joined(separator: ", ")) to numbers in "
                + "\(range.lowerBound)...\(range.upperBound)"
        case .directories: return "an object mapping names to paths of existing directories"
        case .nameGroups(let stages, let names):
            return "a list of \(stages) stages, each a list of groups, each a list of names from "
                + names.joined(separator: ", ") + #" (e.g. [[["semseg", "normals"]], [["semseg"], ["normals"]], ...])"#
        }
    }

    /// Checks `value`; the error text (without file and key) says what was expected.
    /// `dependenciesPending`: checking before a sweep runs, when paths into dependencies' run
    /// directories are `run://` references to runs that have not run yet.
    func check(_ value: JSONValue, dependenciesPending: Bool = false) -> String? {
        func isPending(_ path: String) -> Bool {
            dependenciesPending && path.hasPrefix(ConfigValidation.dependencyScheme)
        }
        let got = "got \(value.canonical)"
        switch (accepted, value) {
        case (.integer(let range), .int), (.integer(let range), .double):
            let number = value.doubleValue!
            guard number == number.rounded(), range.contains(Int(exactly: number) ?? Int.min) else {
                return "expected \(expectation), \(got)"
            }
            return nil
        case (.real(let range), .int), (.real(let range), .double):
            return range.contains(value.doubleValue!) ? nil : "expected \(expectation), \(got)"
        case (.choice(let names), .string(let name)):
            if names.contains(name) { return nil }
            let hint = Spelling.closest(to: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            return "expected \(expectation), \(got)\(hint)"
        case (.nameGroups(let stages, let names), .array(let items)):
            guard items.count == stages else { return "expected \(expectation), got \(items.count) stages" }
            for (index, stage) in items.enumerated() {
                guard case .array(let groups) = stage, !groups.isEmpty else {
                    return "stage \(index + 1) must be a non-empty list of groups, got \(stage.canonical)"
                }
                for group in groups {
                    guard case .array(let members) = group, !members.isEmpty else {
                        return "stage \(index + 1): a group must be a non-empty list of names, got \(group.canonical)"
                    }
                    for member in members {
                        guard case .string(let name) = member, names.contains(name) else {
                            return "stage \(index + 1): unknown name \(member.canonical); expected one of " + names.joined(separator: ", ")
                        }
                    }
                }
            }
            return nil
        case (.names(let names), .array(let items)):
            var seen = Set<String>()
            for item in items {
                guard case .string(let name) = item else { return "expected \(expectation), \(got)" }
                guard names.contains(name) else {
                    let hint = Spelling.closest(to: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
                    return "unknown name \"\(name)\"\(hint); expected \(expectation)"
                }
                guard seen.insert(name).inserted else { return "\"\(name)\" appears twice; expected \(expectation)" }
            }
            return items.isEmpty ? "expected \(expectation), got an empty list" : nil
        case (.integers(let count, let each), .array(let items)):
            let numbers = items.compactMap { item -> Int? in
                if let n = item.doubleValue, n == n.rounded(), let i = Int(exactly: n), each.contains(i) { return i }
                return nil
            }
            return numbers.count == count && items.count == count ? nil : "expected \(expectation), \(got)"
        case (.file, .string(let path)):
            if isPending(path) { return nil }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                return "expected \(expectation); no file at \(path)"
            }
            return nil
        case (.directory, .string(let path)):
            if isPending(path) { return nil }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                return "expected \(expectation); no directory at \(path)"
            }
            return nil
        case (.bool, .bool):
            return nil
        case (.weights(let names, let range), .object(let members)):
            for (name, weight) in members.sorted(by: { $0.key < $1.key }) {
                guard names.contains(name) else {
                    let hint = Spelling.closest(to: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
                    return "unknown name \"\(name)\"\(hint); expected \(expectation)"
                }
                guard let number = weight.doubleValue, range.contains(number) else {
                    return "weight of \"\(name)\" must be a number in \(range.lowerBound)...\(range.upperBound), "
                        + "got \(weight.canonical)"
                }
            }
            return nil
        case (.directories, .object(let members)):
            for (name, path) in members.sorted(by: { $0.key < $1.key }) {
                var isDirectory: ObjCBool = false
                if case .string(let path) = path, isPending(path) { continue }
                guard case .string(let path) = path,
                      FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue
                else { return "\"\(name)\" must be the path of an existing directory, got \(path.canonical)" }
            }
            return nil
        default:
            return "expected \(expectation), \(got)"
        }
    }
}

/// Every key the engine understands: the core keys here, the adapter methods' keys in
/// Methods/MethodConfig.swift (`ConfigSchema.methodKeys`).
public enum ConfigSchema {
    public static let taskNames = TaskName.allCases.map(\.rawValue)

    public static let coreKeys: [ConfigKey] = [
        ConfigKey("kind", .choice(RunKind.allCases.map(\.rawValue)), default: .required, "what the run does (docs/engine.md, \"Run kinds\")"),
        ConfigKey("profile", .choice(Profile.allCases.map(\.rawValue)), default: .value(.string("default")),
                  "the scale: smoke (seconds, for tests), default (about a minute), paper (real shapes)"),
        ConfigKey("seed", .integer(0...Int(Int32.max)), default: .value(.int(0)), "seeds weights, batch order and augmentation"),
        ConfigKey("dataset", .choice(DatasetName.allCases.map(\.rawValue)), default: .value(.string("pascal")),
                  "the task set: " + DatasetName.allCases.map { "\($0.rawValue) = " + $0.tasks.map(\.rawValue).joined(separator: ", ") }
                    .joined(separator: "; ")),
        ConfigKey("data_root", .directory, default: .none,
                  "a real data set in the layout of `dataset` (PASCAL-Context or NYUD-v2, docs/data.md); dense kinds only; "
                  + "left out, the synthetic scenes"),
        ConfigKey("tasks", .names(taskNames), default: .rule("the dataset's"), "tasks of a multi-task run"),
        ConfigKey("task", .choice(taskNames), default: .none, "the task of a single_task run (required there, refused elsewhere)"),
        ConfigKey("pretrain_set", .choice(["1k", "22k"]), default: .value(.string("1k")), "upstream set of a pretrain run"),
        ConfigKey("pretrained", .file, default: .none, "a backbone in safetensors with timm's names to start from (from a pretrain run)"),
        ConfigKey("backbone_weights", .choice(BundledWeights.names), default: .none,
                  "a pretrained backbone the engine ships, by name (SHA-256 checked; experiments/weights.yaml makes it)"),
        ConfigKey("backbone", .choice(BackboneShape.named.map(\.name)), default: .profile { $0.backbone }, "backbone shape"),
        ConfigKey("embed_dim", .integer(4...1024), default: .rule("the backbone's"), "channels C of stage 1 (Swin only)"),
        ConfigKey("depths", .integers(count: 4, each: 1...48), default: .rule("the backbone's"), "blocks per stage"),
        ConfigKey("heads", .integers(count: 4, each: 1...128), default: .rule("the backbone's"), "attention heads per stage"),
        ConfigKey("window", .integer(1...64), default: .rule("the backbone's"), "attention window side (Swin only)"),
        ConfigKey("image_size", .integer(32...2048), default: .profile { "\($0.imageSize)" },
                  "square input side in pixels, a multiple of 32"),
        ConfigKey("decoder", .choice(DecoderKind.allCases.map(\.rawValue)), default: .value(.string("hrnet")),
                  "the per-task decoder head (docs/engine.md, \"Model\")"),
        ConfigKey("decoder_channels", .integers(count: 4, each: 1...4096),
                  default: .rule("\(DecoderSpec.defaultChannels(embedDim: 96)) at C = 96, scaled by C/96, at least 4"),
                  "every head's per-task 1x1 projections of the four features"),
        ConfigKey("decoder_width", .integer(1...4096),
                  default: .rule("\(DecoderSpec.defaults(.segformer, embedDim: 96, imageSize: 448).width) at C = 96, scaled by C/96, at least 8"),
                  "SegFormer's embedding width, ASPP's branch width (segformer and aspp only)"),
        ConfigKey("aspp_rates", .integers(count: 3, each: 1...256),
                  default: .rule(DecoderSpec.defaults(.aspp, embedDim: 96, imageSize: 448).atrousRates.map(String.init).joined(separator: ", ")
                                 + " at a 56-pixel stage-1 map, scaled to the run's, at least 1"),
                  "ASPP's dilation rates (aspp only)"),
        ConfigKey("epochs", .integer(1...100_000), default: .profile { "\($0.epochs)" }, "passes over the training set"),
        ConfigKey("batch_size", .integer(1...4096), default: .profile { "\($0.batchSize)" },
                  "images per step (the last partial batch is dropped)"),
        ConfigKey("train_images", .integer(1...10_000_000), default: .profile { "\($0.trainImages)" },
                  "training images (synthetic sets; with data_root, a prefix of the split)"),
        ConfigKey("val_images", .integer(1...10_000_000), default: .profile { "\($0.valImages)" },
                  "validation images (synthetic sets; with data_root, a prefix of the split)"),
        ConfigKey("lr", .real(1e-9...10), default: .profile { ConfigKey.describe($0.lr) }, "peak learning rate after warm-up"),
        ConfigKey("min_lr", .real(0...10), default: .rule("lr / 100"), "learning rate at the end of the cosine, at most lr"),
        ConfigKey("weight_decay", .real(0...10), default: .value(.double(0.05)),
                  "AdamW decoupled weight decay, not on biases, norms, 1-D parameters or the position tables"),
        ConfigKey("warmup_epochs", .real(0...100_000), default: .profile { ConfigKey.describe($0.warmupEpochs) },
                  "linear warm-up length in epochs (fractions allowed)"),
        ConfigKey("clip_grad", .real(0...1e9), default: .value(.double(5.0)), "global gradient-norm clip (0: off)"),
        ConfigKey("decoder_lr_scale", .real(1e-6...1e6), default: .value(.int(10)),
                  "the decoder's learning rate as a multiple of the schedule's (weight decay scales with it, as in a "
                  + "PyTorch parameter group): the heads, and FAAR's TS-PD filters and XT-Cons alphas, which the paper "
                  + "makes part of the decoder; adapters and the backbone keep 1"),
        ConfigKey("loss_weights", .weights(taskNames, 0...1e6),
                  default: .rule(TaskName.allCases.map { "\($0.rawValue) \(ConfigKey.describe($0.paperLossWeight))" }.joined(separator: ", ")),
                  "per-task loss weights (the papers')"),
        ConfigKey("needs", .directories, default: .none,
                  "the run directories of this run's dependencies, by name (written by sweep; informational: "
                  + "artifacts come through their own keys, e.g. pretrained)"),
        ConfigKey("progress_every", .integer(0...1_000_000), default: .value(.int(0)), "also log progress every N steps (0: per epoch only)"),
    ]

    public static var keys: [ConfigKey] { coreKeys + methodKeys }

    /// The declared key `name`; reading an undeclared key is a programming error.
    static func key(_ name: String) -> ConfigKey {
        guard let key = byName[name] else { preconditionFailure("config key '\(name)' is not declared in ConfigSchema") }
        return key
    }

    static let byName = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0) })

    /// The keys as a Markdown table (key, accepts, default, meaning): `mtl-engine keys` prints it,
    /// and docs/engine.md and docs/methods.md hold it between `<!-- config-keys: ... -->` markers.
    public static func table(_ keys: [ConfigKey]) -> String {
        var lines = ["| key | accepts | default | meaning |", "|---|---|---|---|"]
        for key in keys {
            lines.append("| `\(key.name)` | \(key.expectation) | \(key.defaultText) | \(key.summary) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension ConfigKey {
    /// The default as a table cell: rendered from the code that applies it where it is a value,
    /// the profiles or the methods' presets.
    public var defaultText: String {
        switch defaultValue {
        case .required: return "required"
        case .none: return "-"
        case .value(let value): return value.stringValue ?? value.doubleValue.map(ConfigKey.describe) ?? value.canonical
        case .rule(let text): return text
        case .profile(let field):
            let fineTuning = Profile.allCases.map { field($0.values) }, pretraining = Profile.allCases.map { field($0.pretrainValues) }
            var text = "the profile's: " + zip(Profile.allCases, fineTuning).map { "\($0.rawValue) \($1)" }.joined(separator: ", ")
            if pretraining != fineTuning { text += " (pretrain runs: " + pretraining.joined(separator: ", ") + ")" }
            return text
        case .method(let field):
            // The first method's value, then the methods that differ from it: "16; faar: 32".
            var groups: [(value: String, methods: [String])] = []
            for method in MethodOptions.Method.allCases {
                guard let value = field(.defaults(for: method)) else { continue }
                if let g = groups.firstIndex(where: { $0.value == value }) { groups[g].methods.append(method.rawValue) }
                else { groups.append((value, [method.rawValue])) }
            }
            return groups.enumerated().map { index, group in
                index == 0 ? group.value : group.methods.joined(separator: ", ") + ": " + group.value
            }.joined(separator: "; ")
        }
    }

    /// A number as a default shows it: integral values without ".0".
    static func describe(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : "\(number)"
    }
}

/// A config's keys as written, read with the defaults the schema declares as values.
/// Presence checks (is the key written at all?) look at `written`.
struct ConfigReader {
    let written: [String: JSONValue]

    subscript(name: String) -> JSONValue? {
        let key = ConfigSchema.key(name)
        if let value = written[name] { return value }
        if case .value(let value) = key.defaultValue { return value }
        return nil
    }

    func string(_ name: String) -> String? { self[name]?.stringValue }
    func number(_ name: String) -> Double? { self[name]?.doubleValue }
    func integer(_ name: String) -> Int? { self[name]?.integerValue }
    func integers(_ name: String) -> [Int]? { self[name]?.integerValues }
    func bool(_ name: String) -> Bool? { self[name]?.boolValue }
}
