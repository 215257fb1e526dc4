import Tensors
/// The upstream pretraining sets, analogues of ImageNet-1k and ImageNet-22k: one object of the
/// scenes' visual world per image, with pose, framing, lighting and background varying. Variant
/// 0 of a family is the scene category's own appearance; further variants draw their own hue and
/// signature pattern. "1k" asks for the object category (the family) of objects drawn in 5
/// appearances; "22k" asks for the fine-grained class family x appearance (20 appearances).
///
/// The 1k set had 100 family x appearance classes until the default profile showed that our
/// Swin cannot learn them in its budget (1.25 % top-1 after 512 steps against 11 % for the same
/// images labelled by family; docs/engine.md, "Training recipe").
public struct SyntheticObjects: ClassificationDataset {
    public enum Variant: String, Sendable, Codable, CaseIterable {
        /// 20 classes (the families), each drawn in 5 appearances.
        case imagenet1k = "in1k"
        /// 400 classes (20 families x 20 appearances).
        case imagenet22k = "in22k"

        public var classes: Int { self == .imagenet1k ? ObjectFamily.allCases.count : 400 }

        /// Appearance variants per family.
        var appearances: Int { self == .imagenet1k ? 5 : 20 }
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

    /// Name of class `label`: the family ("barrel") in the 1k set, family/appearance ("barrel/3") in 22k.
    public func className(_ label: Int) -> String {
        let families = ObjectFamily.allCases
        let family = families[label % families.count].name
        return variant == .imagenet1k ? family : "\(family)/\(label / families.count)"
    }

    /// Images cycle through families and appearances, so every class has (nearly) the same
    /// number of images, and so does every appearance of a 1k class.
    public func sample(at index: Int) -> ClassificationSample {
        precondition(index >= 0 && index < count, "index \(index) outside 0..<\(count)")
        let families = ObjectFamily.allCases
        let kind = index % (families.count * variant.appearances)
        let family = families[kind % families.count]
        let label = variant == .imagenet1k ? kind % families.count : kind
        let look = Self.appearance(family: family, variant: kind / families.count)
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
