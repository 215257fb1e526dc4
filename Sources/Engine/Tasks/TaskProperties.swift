import RunContract

/// What a task's label map holds, which fixes its buffer type and its "no label" value.
public enum LabelKind: Sendable, Equatable {
    /// One class index per pixel (`UInt8`), 255 = ignore.
    case classIndices
    /// 0 / 1 per pixel (`UInt8`), 255 = ignore.
    case binary
    /// Three `Float` channels per pixel (x right, y up, z toward the camera), all zero = invalid.
    case unitVectors
    /// One `Float` per pixel in metres, 0 = invalid.
    case metres
}

/// The value that marks an unlabelled pixel in `UInt8` label maps.
public let ignoreLabel: UInt8 = 255

extension TaskName {
    public var labelKind: LabelKind {
        switch self {
        case .semseg, .humanParts: return .classIndices
        case .saliency: return .binary
        case .normals: return .unitVectors
        case .depth: return .metres
        }
    }

    /// Channels of a label map (and of a sample's label buffer per pixel).
    public var labelChannels: Int { self == .normals ? 3 : 1 }

    /// The papers' column label for the task's headline metric. Normals is labelled "rmse" in the
    /// papers' tables, but their code computes the mean angular error, and so do we (`metricDefinition`).
    public var metricName: String {
        switch self {
        case .semseg, .humanParts, .saliency: return "mIoU"
        case .normals, .depth: return "rmse"
        }
    }

    /// What the headline metric actually computes, in its unit.
    public var metricDefinition: String {
        switch self {
        case .semseg, .humanParts: return "mean IoU over classes, pooled over the val set (%)"
        case .saliency: return "max over 15 thresholds in [0.2, 0.9] of the per-image IoU averaged over images (%)"
        case .normals: return "mean angular error over valid pixels (degrees)"
        case .depth: return "RMSE pooled over valid pixels (metres)"
        }
    }

    public var direction: Direction {
        switch self {
        case .semseg, .humanParts, .saliency: return .higher
        case .normals, .depth: return .lower
        }
    }
}

extension DatasetName {
    /// Outputs per task of the real data sets (MTLoRA's configuration).
    public func realOutputs(of task: TaskName) -> Int {
        switch (self, task) {
        case (.pascal, .semseg): return 21
        case (.nyud, .semseg): return 40
        case (_, .humanParts): return 7
        case (_, .saliency), (_, .depth): return 1
        case (_, .normals): return 3
        }
    }
}
