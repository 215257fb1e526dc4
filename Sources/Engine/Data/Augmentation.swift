import Foundation
import Tensors

/// The papers' training augmentation: random horizontal flip, scale in 0.75-1.25 and rotation
/// within ±20° about the image centre, output at the input size. Draws are seeded by
/// (seed, epoch, index), so a run is reproducible and resumes identically.
///
/// Images are resampled bilinearly, label maps by nearest neighbour; pixels that come from
/// outside the source get the image mean (0 after normalisation) and "no label" values (255,
/// zero normals, zero depth). Normals follow the geometry: a flip negates x, a rotation turns
/// the in-plane (x, y) components by the same angle. Depth values are kept under scaling, as in
/// MTLoRA's pipeline.
public struct Augmentation: Sendable, Equatable, Codable {
    public var horizontalFlip: Bool
    public var scales: ClosedRange<Float>
    public var maxRotationDegrees: Float
    public var seed: UInt64

    public init(horizontalFlip: Bool = true, scales: ClosedRange<Float> = 0.75...1.25,
                maxRotationDegrees: Float = 20, seed: UInt64) {
        self.horizontalFlip = horizontalFlip; self.scales = scales
        self.maxRotationDegrees = maxRotationDegrees; self.seed = seed
    }

    /// The papers' settings.
    public static func papers(seed: UInt64) -> Augmentation { Augmentation(seed: seed) }

    /// One draw of the random transform.
    public struct Draw: Sendable, Equatable {
        public var flip: Bool
        public var scale: Float
        public var degrees: Float

        public init(flip: Bool, scale: Float, degrees: Float) {
            self.flip = flip; self.scale = scale; self.degrees = degrees
        }
    }

    public func draw(epoch: Int, index: Int) -> Draw {
        var random = SeededRandom(stream: seed, 0xA06, UInt64(epoch), UInt64(index))
        let flip = horizontalFlip && random.chance(0.5)
        let scale = random.uniform(scales.lowerBound, scales.upperBound)
        let degrees = random.uniform(-maxRotationDegrees, maxRotationDegrees)
        return Draw(flip: flip, scale: scale, degrees: degrees)
    }

    public func apply(to sample: MultiTaskSample, epoch: Int, index: Int) -> MultiTaskSample {
        Augmentation.transform(sample, draw(epoch: epoch, index: index))
    }

    /// Applies one transform: output pixel p comes from source point c + R(-θ)(p - c) / s,
    /// mirrored first when flipping.
    public static func transform(_ sample: MultiTaskSample, _ draw: Draw) -> MultiTaskSample {
        let height = sample.height, width = sample.width, plane = height * width
        let cx = Float(width - 1) / 2, cy = Float(height - 1) / 2
        let radians = draw.degrees * .pi / 180
        let cosine = cos(radians), sine = sin(radians)
        // Source coordinates of every output pixel (before the flip, which mirrors x).
        var sourceX = [Float](repeating: 0, count: plane), sourceY = [Float](repeating: 0, count: plane)
        for y in 0..<height {
            for x in 0..<width {
                let dx = Float(x) - cx, dy = Float(y) - cy
                // Inverse rotation in image coordinates (y down), then inverse scale.
                var sx = cx + (cosine * dx + sine * dy) / draw.scale
                let sy = cy + (-sine * dx + cosine * dy) / draw.scale
                if draw.flip { sx = Float(width - 1) - sx }
                sourceX[y * width + x] = sx
                sourceY[y * width + x] = sy
            }
        }

        var rgb = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            let sx = sourceX[i], sy = sourceY[i]
            guard sx > -1, sy > -1, sx < Float(width), sy < Float(height) else {
                for c in 0..<3 { rgb[c * plane + i] = ImageNormalization.mean[c] }
                continue
            }
            // Bilinear with clamped neighbours, so the border row is not darkened.
            let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
            let fx = sx - Float(x0), fy = sy - Float(y0)
            let xa = min(max(x0, 0), width - 1), xb = min(max(x0 + 1, 0), width - 1)
            let ya = min(max(y0, 0), height - 1), yb = min(max(y0 + 1, 0), height - 1)
            for c in 0..<3 {
                let base = c * plane
                let top = sample.rgb[base + ya * width + xa] * (1 - fx) + sample.rgb[base + ya * width + xb] * fx
                let bottom = sample.rgb[base + yb * width + xa] * (1 - fx) + sample.rgb[base + yb * width + xb] * fx
                rgb[base + i] = top * (1 - fy) + bottom * fy
            }
        }

        // Nearest source pixel per output pixel, or -1 outside the source.
        var nearest = [Int](repeating: -1, count: plane)
        for i in 0..<plane {
            let x = Int((sourceX[i]).rounded()), y = Int((sourceY[i]).rounded())
            if x >= 0, y >= 0, x < width, y < height { nearest[i] = y * width + x }
        }

        var labels = DenseLabels()
        for task in sample.labels.tasks {
            switch task.labelKind {
            case .classIndices, .binary:
                let source = sample.labels.classes(task)!
                labels.setClasses(task, nearest.map { $0 >= 0 ? source[$0] : ignoreLabel })
            case .metres:
                let source = sample.labels.values(task)!
                labels.setValues(task, nearest.map { $0 >= 0 ? source[$0] : 0 })
            case .unitVectors:
                let source = sample.labels.values(task)!
                var normals = [Float](repeating: 0, count: 3 * plane)
                for i in 0..<plane where nearest[i] >= 0 {
                    let j = nearest[i]
                    var nx = source[j], ny = source[plane + j]
                    let nz = source[2 * plane + j]
                    if draw.flip { nx = -nx }
                    // The image turned by θ in (x right, y down); the normal's in-plane part
                    // (nx, -ny) in those coordinates turns with it.
                    let ix = cosine * nx - sine * (-ny)
                    let iy = sine * nx + cosine * (-ny)
                    normals[i] = ix
                    normals[plane + i] = -iy
                    normals[2 * plane + i] = nz
                }
                labels.normals = normals
            }
        }
        return MultiTaskSample(height: height, width: width, rgb: rgb, labels: labels)
    }
}
