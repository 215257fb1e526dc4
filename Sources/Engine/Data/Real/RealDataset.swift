import Foundation

/// What tells the real layouts apart when a split is opened.
public struct RealDataLayout: Sendable {
    /// The data set: its default tasks and output counts.
    public let dataset: DatasetName
    /// The name errors give it.
    public let name: String
    /// The folder under the root that holds the split lists `{train,val}.txt`.
    public let splitLists: String

    /// The split list (one image id per line) of `split` under `root`.
    public func splitList(root: URL, split: DataSplit) -> URL {
        root.appendingPathComponent("\(splitLists)/\(split.rawValue).txt")
    }
}

/// A split of a real data set as `RealDataset`'s init opened it: the images it lists, the tasks
/// it serves and the size samples are resized to.
public struct RealSplit: Sendable {
    public let root: URL
    public let split: DataSplit
    public let ids: [String]
    public let height: Int
    public let width: Int
    public let tasks: [TaskName]
    /// Class names per segmentation task when the root is an `mtl-engine export` of the synthetic
    /// scenes (its synthetic.json names them); nil for a real data set, whose counts are fixed.
    public var exportedClasses: [String: [String]]? = nil
}

/// A real data set: a layout on disk, and one split of it opened by the init below. The
/// conforming types read the samples and check their files.
public protocol RealDataset: MultiTaskDataset {
    static var layout: RealDataLayout { get }
    var opened: RealSplit { get }
    init(opened: RealSplit)
    /// Throws for the first file a sample would need that is missing, so a run stops before
    /// training instead of in the middle of an epoch.
    func checkFiles() throws
}

extension RealDataset {
    /// Reads every sample once, so a truncated or corrupt file (or a label map of the wrong size)
    /// also stops a run before training, with the file's name, rather than in the middle of an
    /// epoch. At the paper's scale this costs a few minutes per run (docs/data.md).
    /// Class labels beyond the head's outputs are errors too, naming the image.
    public func checkSamples() throws {
        for index in 0..<count {
            let sample = try sample(at: index)
            for task in tasks where task.labelKind == .classIndices {
                let classes = outputs(of: task)
                if let label = sample.labels.classes(task)!.first(where: { $0 != ignoreLabel && Int($0) >= classes }) {
                    throw DataFileError(file: root.path, reason: "image \(ids[index]): \(task.rawValue) label \(label) is outside "
                                        + "the \(classes) classes of \(Self.layout.name) (0...\(classes - 1), 255 = no label)")
                }
            }
        }
    }
}

extension RealDataset {
    /// `tasks`: all of the data set's when nil. `limit`: keep only the first `limit` ids of the
    /// split list.
    public init(root: URL, split: DataSplit, height: Int, width: Int, tasks: [TaskName]? = nil, limit: Int? = nil) throws {
        let layout = Self.layout, tasks = tasks ?? layout.dataset.tasks
        try RealDataFiles.checkTasks(tasks, of: layout.dataset, named: layout.name, root: root)
        let all = try RealDataFiles.ids(in: layout.splitList(root: root, split: split))
        var opened = RealSplit(root: root, split: split, ids: limit.map { Array(all.prefix($0)) } ?? all,
                               height: height, width: width, tasks: tasks)
        opened.exportedClasses = try SyntheticExport.classNames(root: root)
        self.init(opened: opened)
    }

    public static func splitList(root: URL, split: DataSplit) -> URL { layout.splitList(root: root, split: split) }

    public var root: URL { opened.root }
    public var split: DataSplit { opened.split }
    public var ids: [String] { opened.ids }
    public var height: Int { opened.height }
    public var width: Int { opened.width }
    public var tasks: [TaskName] { opened.tasks }
    public var count: Int { opened.ids.count }

    public func outputs(of task: TaskName) -> Int {
        opened.exportedClasses?[task.rawValue]?.count ?? Self.layout.dataset.realOutputs(of: task)
    }
}

/// The real data sets by name: PASCAL-Context and NYUD-v2 in their multi-task layouts.
public enum RealDataSets {
    /// The type that reads `dataset`'s layout.
    public static func reader(of dataset: DatasetName) -> any RealDataset.Type {
        switch dataset {
        case .pascal: return PascalContextDataset.self
        case .nyud: return NYUDDataset.self
        }
    }

    /// The split list (one image id per line) of `dataset`'s layout under `root`.
    public static func splitList(_ dataset: DatasetName, root: URL, split: DataSplit) -> URL {
        reader(of: dataset).layout.splitList(root: root, split: split)
    }

    /// The images a split lists.
    public static func count(_ dataset: DatasetName, root: URL, split: DataSplit) throws -> Int {
        try RealDataFiles.ids(in: splitList(dataset, root: root, split: split)).count
    }

    /// The first `limit` images of a split, every file they need checked to exist and read once.
    public static func open(_ dataset: DatasetName, root: URL, split: DataSplit, size: Int, tasks: [TaskName],
                            limit: Int?) throws -> any MultiTaskDataset {
        func open<Reader: RealDataset>(_ reader: Reader.Type) throws -> Reader {
            let set = try Reader(root: root, split: split, height: size, width: size, tasks: tasks, limit: limit)
            try set.checkFiles()
            try set.checkSamples()
            return set
        }
        return try open(reader(of: dataset))
    }
}
