import Crypto
import Foundation
import Synchronization

/// Pretrained backbones shipped with the engine (Sources/Engine/Pretrained/), as the papers start
/// from ImageNet checkpoints: a run names one with `backbone_weights: NAME`, so the name is in its
/// config and hence in its run id. Each file's SHA-256 is checked whenever a run loads it, and the
/// manifest that regenerates it is experiments/weights.yaml (docs/data.md, "Bundled backbone").
public enum BundledWeights {
    public struct File: Sendable {
        public var name: String
        public var sha256: String
    }

    /// swin_mini-synthetic-1k: swin_mini, 8,192 steps on the 20-class upstream set, Haswell kernels.
    public static let files: [File] = [
        File(name: "swin_mini-synthetic-1k", sha256: "434745df5746e449f94548c91117f101d5309bca7901122d05ae5c3e846fde6d"),
    ]

    public static var names: [String] { files.map(\.name) }

    /// Paths already checked in this process: `mtl-engine --validate-config` checks a whole
    /// plan's configs at once, and hashing the file once per config took seconds per thousand.
    private static let verified = Mutex<[String: String]>([:])

    /// The file's path, once its contents are checked against the recorded SHA-256 (once a process).
    public static func verifiedPath(_ name: String, configFile: String) throws -> String {
        if let path = verified.withLock({ $0[name] }) { return path }
        guard let file = files.first(where: { $0.name == name }) else {
            throw ConfigError(file: configFile, key: "backbone_weights",
                              message: "no bundled backbone \"\(name)\"; there are: \(names.joined(separator: ", "))")
        }
        guard let url = Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Pretrained"),
              let data = try? Data(contentsOf: url) else {
            throw ConfigError(file: configFile, key: "backbone_weights",
                              message: "the bundled backbone \(name).safetensors is missing from the engine's resources")
        }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        guard digest == file.sha256 else {
            throw ConfigError(file: configFile, key: "backbone_weights", message:
                "\(url.path) has SHA-256 \(digest), not the recorded \(file.sha256): the file was changed or damaged")
        }
        verified.withLock { $0[name] = url.path }
        return url.path
    }
}
