import Testing
@testable import Engine

@Suite struct AugmentationTests {
    /// A 8x6 sample whose right half is class 1 with normals pointing right (+x), left half class 0
    /// with normals toward the camera; the image encodes the column in red.
    func halves(height: Int = 6, width: Int = 8) -> MultiTaskSample {
        let plane = height * width
        var rgb = [Float](repeating: 0.5, count: 3 * plane)
        var semseg = [UInt8](repeating: 0, count: plane), normals = [Float](repeating: 0, count: 3 * plane)
        var depth = [Float](repeating: 0, count: plane)
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                rgb[i] = Float(x) / Float(width - 1)
                depth[i] = 1 + Float(x)
                if x >= width / 2 { semseg[i] = 1; normals[i] = 1 } else { normals[2 * plane + i] = 1 }
            }
        }
        return MultiTaskSample(height: height, width: width, rgb: rgb,
                               labels: DenseLabels(semseg: semseg, saliency: semseg, normals: normals, depth: depth))
    }

    @Test func identityDrawChangesNothing() {
        let sample = halves()
        #expect(Augmentation.transform(sample, .init(flip: false, scale: 1, degrees: 0)) == sample)
    }

    @Test func flippingMirrorsEveryMapAndNegatesNormalX() {
        let sample = halves(), flipped = Augmentation.transform(sample, .init(flip: true, scale: 1, degrees: 0))
        let plane = sample.pixels, width = sample.width
        for y in 0..<sample.height {
            for x in 0..<width {
                let i = y * width + x, mirrored = y * width + (width - 1 - x)
                #expect(flipped.labels.semseg![i] == sample.labels.semseg![mirrored])
                #expect(flipped.labels.depth![i] == sample.labels.depth![mirrored])
                #expect(abs(flipped.rgb[i] - sample.rgb[mirrored]) < 1e-6)
                #expect(flipped.labels.normals![i] == -sample.labels.normals![mirrored])
                #expect(flipped.labels.normals![2 * plane + i] == sample.labels.normals![2 * plane + mirrored])
            }
        }
    }

    @Test func rotationTurnsNormalsWithTheImage() {
        // Turning the image by +90° (clockwise on screen, y down) moves the right half to the bottom,
        // and normals that pointed right now point down (-y in the camera frame).
        let size = 9
        let sample = halves(height: size, width: size)
        let turned = Augmentation.transform(sample, .init(flip: false, scale: 1, degrees: 90))
        let plane = size * size
        let bottom = 7 * size + 4, top = 1 * size + 4
        #expect(turned.labels.semseg![bottom] == 1)
        #expect(turned.labels.semseg![top] == 0)
        #expect(abs(turned.labels.normals![bottom]) < 1e-5)
        #expect(abs(turned.labels.normals![plane + bottom] + 1) < 1e-5)
        #expect(abs(turned.labels.normals![2 * plane + top] - 1) < 1e-5)
    }

    @Test func shrinkingPadsWithNoLabel() {
        let sample = halves(height: 16, width: 16)
        let small = Augmentation.transform(sample, .init(flip: false, scale: 0.5, degrees: 0))
        let corner = 0, plane = 256
        #expect(small.labels.semseg![corner] == ignoreLabel)
        #expect(small.labels.saliency![corner] == ignoreLabel)
        #expect(small.labels.depth![corner] == 0)
        #expect(small.labels.normals![corner] == 0 && small.labels.normals![2 * plane + corner] == 0)
        #expect(small.rgb[corner] == ImageNormalization.mean[0])
        #expect(small.labels.semseg![8 * 16 + 8] == 1)
    }

    @Test func drawsAreSeededAndInRange() {
        let augmentation = Augmentation.papers(seed: 11)
        var flips = 0
        for index in 0..<200 {
            let draw = augmentation.draw(epoch: 3, index: index)
            #expect(draw == augmentation.draw(epoch: 3, index: index))
            #expect(draw.scale >= 0.75 && draw.scale <= 1.25 && abs(draw.degrees) <= 20)
            if draw.flip { flips += 1 }
        }
        #expect(flips > 60 && flips < 140)
        #expect(augmentation.draw(epoch: 3, index: 0) != augmentation.draw(epoch: 4, index: 0))
    }

    @Test func augmentedSyntheticNormalsStayUnit() {
        let scenes = SyntheticScenes(dataset: .nyud, split: .train, count: 3, height: 24, width: 24, seed: 2)
        let augmentation = Augmentation.papers(seed: 5)
        for index in 0..<3 {
            let sample = augmentation.apply(to: scenes.sample(at: index), epoch: 1, index: index)
            let normals = sample.labels.normals!, plane = sample.pixels
            for i in 0..<plane {
                let length = (normals[i] * normals[i] + normals[plane + i] * normals[plane + i]
                              + normals[2 * plane + i] * normals[2 * plane + i]).squareRoot()
                #expect(length == 0 || abs(length - 1) < 1e-3)
                #expect((length == 0) == (sample.labels.depth![i] == 0))
            }
        }
    }
}
