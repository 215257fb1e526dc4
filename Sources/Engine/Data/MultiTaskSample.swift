/// Dense labels of one image (or of a batch, image after image): one optional buffer per task.
/// Layouts: class maps and saliency `[H*W]` (255 = ignore), normals `[3, H, W]` unit vectors
/// (all zero = invalid), depth `[H*W]` in metres (0 = invalid). A batch stacks them along a
/// leading batch axis.
public struct DenseLabels: Sendable, Equatable {
    public var semseg: [UInt8]?
    public var humanParts: [UInt8]?
    public var saliency: [UInt8]?
    public var normals: [Float]?
    public var depth: [Float]?

    public init(semseg: [UInt8]? = nil, humanParts: [UInt8]? = nil, saliency: [UInt8]? = nil,
                normals: [Float]? = nil, depth: [Float]? = nil) {
        self.semseg = semseg; self.humanParts = humanParts; self.saliency = saliency
        self.normals = normals; self.depth = depth
    }

    /// The `UInt8` map of semseg, human_parts or saliency.
    public func classes(_ task: TaskName) -> [UInt8]? {
        switch task {
        case .semseg: return semseg
        case .humanParts: return humanParts
        case .saliency: return saliency
        case .normals, .depth: return nil
        }
    }

    /// The `Float` map of normals or depth.
    public func values(_ task: TaskName) -> [Float]? {
        switch task {
        case .normals: return normals
        case .depth: return depth
        case .semseg, .humanParts, .saliency: return nil
        }
    }

    public mutating func setClasses(_ task: TaskName, _ map: [UInt8]?) {
        switch task {
        case .semseg: semseg = map
        case .humanParts: humanParts = map
        case .saliency: saliency = map
        case .normals, .depth: preconditionFailure("\(task.rawValue) labels are Float values")
        }
    }

    public mutating func setValues(_ task: TaskName, _ map: [Float]?) {
        switch task {
        case .normals: normals = map
        case .depth: depth = map
        case .semseg, .humanParts, .saliency: preconditionFailure("\(task.rawValue) labels are UInt8 classes")
        }
    }

    /// Image `index` of a batch of labels of `pixels` pixels per image.
    public func image(_ index: Int, pixels: Int) -> DenseLabels {
        var one = DenseLabels()
        for task in tasks {
            let span = pixels * task.labelChannels, range = (index * span)..<((index + 1) * span)
            if let map = classes(task) { one.setClasses(task, Array(map[range])) }
            if let map = values(task) { one.setValues(task, Array(map[range])) }
        }
        return one
    }

    /// The tasks that carry a buffer.
    public var tasks: [TaskName] {
        TaskName.allCases.filter { classes($0) != nil || values($0) != nil }
    }
}

/// One image with its labels, before normalisation: `rgb` is `[3, H, W]` in [0, 1].
public struct MultiTaskSample: Sendable, Equatable {
    public var height: Int
    public var width: Int
    public var rgb: [Float]
    public var labels: DenseLabels

    public init(height: Int, width: Int, rgb: [Float], labels: DenseLabels) {
        precondition(rgb.count == 3 * height * width, "rgb must be [3, \(height), \(width)]")
        self.height = height; self.width = width; self.rgb = rgb; self.labels = labels
    }

    public var pixels: Int { height * width }
}

/// The per-channel normalisation applied when a batch is filled: ImageNet's mean and std, as
/// MTLoRA's and timm's Swin pipelines use, so real pretrained weights see the inputs they expect.
public enum ImageNormalization {
    public static let mean: [Float] = [0.485, 0.456, 0.406]
    public static let std: [Float] = [0.229, 0.224, 0.225]

    /// Writes `(rgb - mean) / std` for one `[3, H, W]` image into `destination`.
    public static func normalize(_ rgb: [Float], into destination: UnsafeMutableBufferPointer<Float>) {
        let plane = rgb.count / 3
        for channel in 0..<3 {
            let mean = Self.mean[channel], scale = 1 / Self.std[channel]
            for i in 0..<plane {
                destination[channel * plane + i] = (rgb[channel * plane + i] - mean) * scale
            }
        }
    }
}

/// A multi-task data set of fixed-size images. The synthetic scenes and the loaders of the real
/// PASCAL-Context and NYUD-v2 layouts implement it; the trainer only sees this.
public protocol MultiTaskDataset: Sendable {
    var tasks: [TaskName] { get }
    var count: Int { get }
    var height: Int { get }
    var width: Int { get }
    /// Output channels a model needs for `task` (classes for segmentation, 1 or 3 otherwise).
    func outputs(of task: TaskName) -> Int
    /// Sample `index` in 0..<count, un-augmented. Deterministic: the same index gives the same bytes.
    func sample(at index: Int) throws -> MultiTaskSample
}

/// One image with its class, before normalisation: `rgb` is `[3, H, W]` in [0, 1].
public struct ClassificationSample: Sendable, Equatable {
    public var height: Int
    public var width: Int
    public var rgb: [Float]
    public var label: Int

    public init(height: Int, width: Int, rgb: [Float], label: Int) {
        self.height = height; self.width = width; self.rgb = rgb; self.label = label
    }
}

/// An image-classification data set (the upstream pretraining sets).
public protocol ClassificationDataset: Sendable {
    var classes: Int { get }
    var count: Int { get }
    var height: Int { get }
    var width: Int { get }
    func sample(at index: Int) throws -> ClassificationSample
}
