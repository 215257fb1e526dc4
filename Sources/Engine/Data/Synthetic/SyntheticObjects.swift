import Tensors
/// The upstream pretraining sets, analogues of ImageNet-1k and ImageNet-22k: one object of the
/// scenes' visual world per image, class = shape family x appearance variant, with pose,
/// framing, lighting and background varying. Variant 0 of a family is the scene category's own
/// appearance; further variants draw their own hue and signature pattern. Class k is the same in
/// both sets, so the larger set is a superset of the smaller one.
public struct SyntheticObjects: ClassificationDataset {
    public enum Variant: String, Sendable, Codable, CaseIterable {
        /// 100 classes (20 families x 5 appearances).
        case imagenet1k = "in1k"
        /// 400 classes (20 families x 20 appearances).
        case imagenet22k = "in22k"

        public var classes: Int { self == .imagenet1k ? 100 : 400 }
    }

    public var variant: Variant
    public var split: DataSplit
    public var count: Int
    public var height: Int
    public var width: Int
    public var seed: UInt64

    public init(variant: Variant, split: DataSplit, count: Int, height: Int = 64, width: Int = 64, seed: UInt64 = 0) {
        self.variant = variant; self.split = split; self.count = count
        self.height = height; self.width = width; self.seed = seed
    }

    public var classes: Int { variant.classes }

    /// Name of class `label`, e.g. "barrel/3".
    public static func className(_ label: Int) -> String {
        let families = ObjectFamily.allCases
        return "\(families[label % families.count].name)/\(label / families.count)"
    }

    /// Labels cycle through the classes, so every class has (nearly) the same number of images.
    public func sample(at index: Int) -> ClassificationSample {
        precondition(index >= 0 && index < count, "index \(index) outside 0..<\(count)")
        let label = index % classes
        let families = ObjectFamily.allCases
        let family = families[label % families.count]
        let look = Self.appearance(family: family, variant: label / families.count)
        var random = SeededRandom(stream: seed, 0x1A6E, split.streamTag, UInt64(index))
        let scene = SceneLayouts.portrait(of: family, look: look, width: width, height: height, random: &random)
        let rendered = SceneRenderer.render(scene, width: width, height: height, random: &random)
        return ClassificationSample(height: height, width: width, rgb: rendered.rgb, label: label)
    }

    /// The appearance of a (family, variant) class; independent of the data set's seed, so a
    /// class looks the same in every split.
    static func appearance(family: ObjectFamily, variant: Int) -> Appearance {
        guard variant > 0 else { return family.appearance }
        var random = SeededRandom(stream: 0xC1A55, UInt64(family.rawValue), UInt64(variant))
        var look = family.appearance
        look.hue = random.uniform(0, 360)
        look.hueSpread = 30
        let signature = Pattern.allCases[random.nextInt(below: Pattern.allCases.count)]
        look.patterns = [(signature, 0.6)] + Pattern.allCases.filter { $0 != signature }.map { ($0, Float(0.4) / 6) }
        return look
    }
}
