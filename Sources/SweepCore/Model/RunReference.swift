import Foundation
import RunContract

/// A dependency's run directory inside a resolved config: `run://<id>` optionally followed by a
/// path inside that directory (`run://<id>/backbone.safetensors`). Configs carry references, not
/// absolute paths, so a run id does not depend on where the workspace lives; the executor turns
/// them into paths when it writes `config.json`.
public enum RunReference {
    /// The contract's own: an engine checking configs takes these as paths still to be made.
    public static let scheme = ConfigValidation.dependencyScheme

    public static func make(_ id: RunID, path: String? = nil) -> String {
        guard let path, !path.isEmpty else { return scheme + id.rawValue }
        return scheme + id.rawValue + "/" + path
    }

    /// The run id a string refers to, when it is a reference.
    public static func target(of string: String) -> RunID? {
        guard string.hasPrefix(scheme) else { return nil }
        let rest = string.dropFirst(scheme.count)
        let id = rest.prefix { $0 != "/" }
        return id.isEmpty ? nil : RunID(rawValue: String(id))
    }
}

extension JSONValue {
    /// This value with every `run://<id>[/path]` string replaced by the absolute path of that
    /// run's directory in `workspace`.
    public func resolvingRunReferences(in workspace: Workspace) -> JSONValue {
        switch self {
        case .string(let string):
            guard let id = RunReference.target(of: string) else { return self }
            let suffix = string.dropFirst(RunReference.scheme.count + id.rawValue.count)
            return .string(workspace.runDirectory(id).path + suffix)
        case .array(let values):
            return .array(values.map { $0.resolvingRunReferences(in: workspace) })
        case .object(let members):
            return .object(members.mapValues { $0.resolvingRunReferences(in: workspace) })
        default:
            return self
        }
    }
}
