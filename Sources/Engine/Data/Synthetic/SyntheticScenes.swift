import Tensors
/// Which part of a data set: splits draw from disjoint seed streams.
public enum DataSplit: String, Sendable, Codable, CaseIterable {
    case train, val

    var streamTag: UInt64 { self == .train ? 0x7EA1 : 0x0A11 }
}

/// The synthetic multi-task benchmarks: rendered scenes whose labels all come from the same
/// geometry. `pascal` gives outdoor scenes with objects and figures (semseg, human_parts,
/// saliency, normals); `nyud` gives furnished rooms (semseg, depth, normals). Image `index` of a
/// split is a pure function of (seed, split, index), so any thread count gives the same bytes.
public struct SyntheticScenes: MultiTaskDataset {
    public var dataset: DatasetName
    public var split: DataSplit
    public var count: Int
    public var height: Int
    public var width: Int
    public var seed: UInt64
    public var tasks: [TaskName]

    public init(dataset: DatasetName, split: DataSplit, count: Int, height: Int = 64, width: Int = 64,
                seed: UInt64 = 0, tasks: [TaskName]? = nil) {
        precondition(count >= 0 && height > 0 && width > 0)
        self.dataset = dataset; self.split = split; self.count = count
        self.height = height; self.width = width; self.seed = seed
        self.tasks = tasks ?? dataset.tasks
        precondition(self.tasks.allSatisfy(dataset.tasks.contains), "tasks outside \(dataset.rawValue)'s task set")
    }

    /// Class names of the synthetic semseg task. PASCAL's analogue has 26: background (the
    /// clutter), the 20 object classes with the figures at VOC's person index 15, then the stuff
    /// (sky, grass, ground, road, building), as PASCAL-Context labels its stuff; the room scenes
    /// have 16 (wall, floor, ceiling, picture, then 12 furniture families).
    public static func semsegClasses(_ dataset: DatasetName) -> [String] {
        switch dataset {
        case .pascal:
            var names = ObjectFamily.allCases.filter { $0 != .person }.map(\.name)
            names.insert("person", at: 14)
            return ["background"] + names + SceneLayouts.Stuff.allCases.map(\.rawValue)
        case .nyud:
            return ["wall", "floor", "ceiling", "picture"] + SceneLayouts.roomFamilies.map(\.name)
        }
    }

    public static let humanPartNames = ["background", "head", "torso", "upper_arm", "lower_arm", "upper_leg", "lower_leg"]

    public func outputs(of task: TaskName) -> Int {
        switch task {
        case .semseg: return Self.semsegClasses(dataset).count
        case .humanParts: return Self.humanPartNames.count
        case .saliency, .depth: return 1
        case .normals: return 3
        }
    }

    public func sample(at index: Int) -> MultiTaskSample {
        precondition(index >= 0 && index < count, "index \(index) outside 0..<\(count)")
        var random = SeededRandom(stream: seed, dataset == .pascal ? 0x9A5C : 0x4E7D, split.streamTag, UInt64(index))
        let scene: Scene
        switch dataset {
        case .pascal:
            let classes = Self.semsegClasses(.pascal)
            scene = SceneLayouts.outdoor(width: width, height: height,
                                         classOf: { UInt8(classes.firstIndex(of: $0.name)!) },
                                         stuffClass: { UInt8(classes.firstIndex(of: $0.rawValue)!) }, random: &random)
        case .nyud:
            scene = SceneLayouts.room(width: width, height: height, random: &random)
        }
        let rendered = SceneRenderer.render(scene, width: width, height: height, random: &random)
        return MultiTaskSample(height: height, width: width, rgb: rendered.rgb,
                               labels: Self.labels(of: rendered, scene: scene, tasks: tasks))
    }

    /// The task labels of a rendered scene.
    static func labels(of rendered: RenderedScene, scene: Scene, tasks: [TaskName]) -> DenseLabels {
        var labels = DenseLabels()
        for task in tasks {
            switch task {
            case .semseg:
                labels.semseg = rendered.semantic
            case .humanParts:
                // Images without a visible figure carry no part labels (PASCAL's convention).
                let anyFigure = rendered.parts.contains { $0 != 0 }
                labels.humanParts = anyFigure ? rendered.parts : [UInt8](repeating: ignoreLabel, count: rendered.parts.count)
            case .saliency:
                labels.saliency = saliency(rendered, scene: scene)
            case .normals:
                labels.normals = rendered.normals
            case .depth:
                labels.depth = rendered.depth
            }
        }
        return labels
    }

    /// The salient foreground: every figure or object whose visible area is at least 40 % of the
    /// largest visible one's (and at least 1 % of the image) — the prominent things a viewer
    /// looks at, never the ground, walls or clutter.
    static func saliency(_ rendered: RenderedScene, scene: Scene) -> [UInt8] {
        var area = [Int](repeating: 0, count: scene.objects.count)
        for instance in rendered.instance where instance >= 0 { area[Int(instance)] += 1 }
        let eligible = scene.objects.indices.filter { scene.objects[$0].canBeSalient }
        let largest = eligible.map { area[$0] }.max() ?? 0
        let minimumArea = max(Int(0.4 * Double(largest)), rendered.instance.count / 100, 1)
        var salient = [Bool](repeating: false, count: scene.objects.count)
        for o in eligible where area[o] >= minimumArea { salient[o] = true }
        return rendered.instance.map { $0 >= 0 && salient[Int($0)] ? 1 : 0 }
    }
}
