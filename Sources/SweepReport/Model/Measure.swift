import RunContract
import SweepCore

/// What a column shows, parsed from its `ColumnSpec.key`.
public enum Measure: Hashable, Sendable {
    /// A task's headline metric ("semseg", "normals", ...).
    case task(String)
    /// Δm (%) against the table's reference row.
    case deltaM
    /// A parameter count, in millions.
    case parameters(ParameterKind)
    /// Forward GMACs.
    case gmacs
    /// Total training time: the sum of the epoch times.
    case trainSeconds
    /// Mean epoch time.
    case epochSeconds
    /// A value from metrics.json's `extra`.
    case extra(String)
    /// One model answers every task in one pass (✓, 1) or there is one model per task (✕, 0):
    /// FAAR Table 1's "Single inf. (all tasks)".
    case singleInference

    public enum ParameterKind: String, Sendable, CaseIterable {
        case trainable, total, decoder, backbone
    }

    /// The keys that are not task names, for error messages.
    public static let reservedKeys = ["delta_m", "gmacs", "train_seconds", "epoch_seconds", "single_inference"]
        + ParameterKind.allCases.map { "params.\($0.rawValue)" } + ["extra.NAME"]

    /// Parses a column key; `nil` for a malformed `params.*` or `extra.` key.
    public init?(key: String) {
        switch key {
        case "delta_m": self = .deltaM
        case "gmacs": self = .gmacs
        case "train_seconds": self = .trainSeconds
        case "epoch_seconds": self = .epochSeconds
        case "single_inference": self = .singleInference
        default:
            if key.hasPrefix("params.") {
                guard let kind = ParameterKind(rawValue: String(key.dropFirst("params.".count))) else { return nil }
                self = .parameters(kind)
            } else if key.hasPrefix("extra.") {
                let name = String(key.dropFirst("extra.".count))
                guard !name.isEmpty else { return nil }
                self = .extra(name)
            } else if key.isEmpty {
                return nil
            } else {
                self = .task(key)
            }
        }
    }

    /// One run's cost value; nil for measures that are not costs.
    func cost(of metrics: RunMetrics) -> Double? {
        switch self {
        case .parameters(let kind):
            let counts = metrics.parameters
            let count: Int
            switch kind {
            case .trainable: count = counts.trainable
            case .total: count = counts.total
            case .decoder: count = counts.decoder
            case .backbone: count = counts.backbone
            }
            return Double(count) / 1_000_000
        case .gmacs: return metrics.gmacs
        case .trainSeconds: return metrics.epochSeconds.reduce(0, +)
        case .epochSeconds:
            return metrics.epochSeconds.isEmpty
                ? nil : metrics.epochSeconds.reduce(0, +) / Double(metrics.epochSeconds.count)
        case .task, .deltaM, .extra, .singleInference: return nil
        }
    }
}
