import Foundation
import RunContract

/// One key a run's `config.json` may contain, with the values it accepts.
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

    public var name: String
    public var accepted: Accepted
    public var summary: String

    public init(_ name: String, _ accepted: Accepted, _ summary: String) {
        self.name = name; self.accepted = accepted; self.summary = summary
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
        ConfigKey("kind", .choice(RunKind.allCases.map(\.rawValue)), "what the run does"),
        ConfigKey("profile", .choice(Profile.allCases.map(\.rawValue)),
                  "the scale: smoke (seconds, for tests), default (about a minute), paper (real shapes)"),
        ConfigKey("seed", .integer(0...Int(Int32.max)), "seeds weights, data order and augmentation"),
        ConfigKey("dataset", .choice(DatasetName.allCases.map(\.rawValue)),
                  "task set: pascal (semseg, human_parts, saliency, normals) or nyud (semseg, depth, normals)"),
        ConfigKey("data_root", .directory, "a real data set in the PASCAL-Context or NYUD-v2 layout (default: synthetic)"),
        ConfigKey("tasks", .names(taskNames), "tasks of a multi-task run (default: all tasks of the dataset)"),
        ConfigKey("task", .choice(taskNames), "the task of a single_task run"),
        ConfigKey("pretrain_set", .choice(["1k", "22k"]), "upstream set of a pretrain run"),
        ConfigKey("pretrained", .file, "a backbone in safetensors with timm's names (from a pretrain run)"),
        ConfigKey("backbone_weights", .choice(BundledWeights.names),
                  "a pretrained backbone the engine ships, by name (SHA-256 checked; experiments/weights.yaml makes it)"),
        ConfigKey("backbone", .choice(BackboneShape.named.map(\.name)), "backbone shape (default: the profile's)"),
        ConfigKey("embed_dim", .integer(4...1024), "channels C of stage 1 (overrides the backbone's)"),
        ConfigKey("depths", .integers(count: 4, each: 1...48), "blocks per stage (overrides the backbone's)"),
        ConfigKey("heads", .integers(count: 4, each: 1...128), "attention heads per stage (overrides the backbone's)"),
        ConfigKey("window", .integer(1...64), "attention window side (overrides the backbone's)"),
        ConfigKey("image_size", .integer(32...2048), "square input side in pixels, a multiple of 32"),
        ConfigKey("decoder", .choice(DecoderKind.allCases.map(\.rawValue)), "per-task decoder head (default hrnet)"),
        ConfigKey("decoder_channels", .integers(count: 4, each: 1...4096),
                  "every head's per-task projection channels per feature (default: [18, 36, 72, 144] scaled by C/96)"),
        ConfigKey("decoder_width", .integer(1...4096),
                  "SegFormer embedding width / ASPP branch width (default: 256 scaled by C/96, at least 8)"),
        ConfigKey("aspp_rates", .integers(count: 3, each: 1...256),
                  "ASPP dilation rates (default: 12, 24, 36 scaled from a 56-pixel stage-1 map to the run's)"),
        ConfigKey("epochs", .integer(1...100_000), "passes over the training set"),
        ConfigKey("batch_size", .integer(1...4096), "images per step"),
        ConfigKey("train_images", .integer(1...10_000_000), "training images (synthetic sets)"),
        ConfigKey("val_images", .integer(1...10_000_000), "validation images (synthetic sets)"),
        ConfigKey("lr", .real(1e-9...10), "peak learning rate after warm-up"),
        ConfigKey("min_lr", .real(0...10), "learning rate at the end of the cosine"),
        ConfigKey("weight_decay", .real(0...10), "AdamW decoupled weight decay (not on biases and 1-D parameters)"),
        ConfigKey("warmup_epochs", .real(0...100_000), "linear warm-up length in epochs (fractions allowed)"),
        ConfigKey("clip_grad", .real(0...1e9), "global gradient-norm clip (0: off)"),
        ConfigKey("decoder_lr_scale", .real(1e-6...1e6),
                  "the decoder heads' learning rate as a multiple of lr (default 10)"),
        ConfigKey("loss_weights", .weights(taskNames, 0...1e6), "per-task loss weights (default: the papers')"),
        ConfigKey("needs", .directories,
                  "the run directories of this run's dependencies, by name (written by sweep; informational)"),
        ConfigKey("progress_every", .integer(0...1_000_000), "also log progress every N steps (0: per epoch only)"),
    ]

    public static var keys: [ConfigKey] { coreKeys + methodKeys }
}
