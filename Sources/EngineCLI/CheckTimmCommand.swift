import ArgumentParser
import Engine
import Foundation

/// Compares the engine's backbone features (Swin or PVT-v2) with timm's on the same weights and
/// input (reference written by bench/timm_features.py).
public struct CheckTimmCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check-timm",
        abstract: "Compare the engine's Swin or PVT-v2 features with timm's for the same weights.",
        discussion: """
            Example:
              python bench/timm_features.py --out /tmp/swin_t
              mtl-engine check-timm --weights /tmp/swin_t/weights.safetensors --reference /tmp/swin_t/reference.safetensors
              python bench/timm_features.py --model pvt_v2_b0 --out /tmp/pvt_b0
              mtl-engine check-timm --weights /tmp/pvt_b0/weights.safetensors --reference /tmp/pvt_b0/reference.safetensors
            """)

    @Option(help: "Swin or PVT-v2 weights in timm's names (safetensors).")
    public var weights: String

    @Option(help: "Input and timm's features (safetensors from bench/timm_features.py).")
    public var reference: String

    @Option(help: "Largest acceptable absolute difference.")
    public var tolerance: Double = 1e-3

    public init() {}

    public func run() throws {
        let file = try Safetensors.read(from: URL(fileURLWithPath: weights))
        guard let shape = BackboneShape.inferred(from: file) else {
            throw ValidationError("\(weights) does not hold Swin or PVT-v2 weights in timm's names")
        }
        let expected = try Safetensors.read(from: URL(fileURLWithPath: reference))
        guard let input = expected.tensors["input"], input.shape.count == 4, input.shape[1] == 3 else {
            throw ValidationError("\(reference) lacks 'input' of shape [batch, 3, height, width]")
        }
        let (batch, size) = (input.shape[0], input.shape[2])
        let backbone = shape.makeBackbone(imageSize: size, seed: 0)
        try backbone.load(file, path: weights)
        let (features, _) = backbone.forward(channelsLastImages(input.values, batch: batch, height: size, width: size), batch: batch,
                                             ForwardContext(training: false))
        let family = shape.family == .swin ? "Swin, C=\(shape.embedDim), window=\(shape.window)"
            : "PVT-v2, widths=\(shape.widths), sr_ratios=\(shape.spatialReductions), mlp_ratios=\(shape.mlpRatios)"
        print("shape: \(family), depths=\(shape.depths), heads=\(shape.heads), input \(batch)x3x\(size)x\(size)")
        var worst = 0.0
        for (index, feature) in features.enumerated() {
            guard let timm = expected.tensors["feature.\(index)"] else { continue }
            let difference = maxAbsDifference(feature.values.values, timm.values)
            let scale = timm.values.map { abs(Double($0)) }.max() ?? 0
            print("feature.\(index) \(feature.height)x\(feature.width)x\(feature.channels): "
                  + "max |engine - timm| = \(difference) (max |timm| = \(scale))")
            worst = max(worst, difference)
        }
        if worst > tolerance { throw ExitCode(1) }
    }

    private func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "feature sizes differ: \(a.count) vs \(b.count)")
        return zip(a, b).map { abs(Double($0) - Double($1)) }.max() ?? 0
    }
}
