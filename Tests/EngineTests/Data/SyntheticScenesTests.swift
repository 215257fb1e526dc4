import Foundation
import Testing
@testable import Engine

@Suite struct SyntheticScenesTests {
    let pascal = SyntheticScenes(dataset: .pascal, split: .train, count: 24, height: 32, width: 32, seed: 7)
    let nyud = SyntheticScenes(dataset: .nyud, split: .train, count: 12, height: 32, width: 32, seed: 7)

    @Test func sameSeedGivesTheSameBytes() {
        let again = SyntheticScenes(dataset: .pascal, split: .train, count: 24, height: 32, width: 32, seed: 7)
        for index in [0, 5, 23] { #expect(pascal.sample(at: index) == again.sample(at: index)) }
    }

    @Test func seedsSplitsAndIndicesDiffer() {
        let otherSeed = SyntheticScenes(dataset: .pascal, split: .train, count: 24, height: 32, width: 32, seed: 8)
        let val = SyntheticScenes(dataset: .pascal, split: .val, count: 24, height: 32, width: 32, seed: 7)
        #expect(pascal.sample(at: 3).rgb != otherSeed.sample(at: 3).rgb)
        #expect(pascal.sample(at: 3).rgb != val.sample(at: 3).rgb)
        #expect(pascal.sample(at: 3).rgb != pascal.sample(at: 4).rgb)
    }

    @Test func batchesDoNotDependOnTheThreadCount() throws {
        let indices = Array(0..<8)
        let augmentation = Augmentation.papers(seed: 3)
        let one = try pascal.batch(indices: indices, augmentation: augmentation, epoch: 2, threads: 1)
        let two = try pascal.batch(indices: indices, augmentation: augmentation, epoch: 2, threads: 2)
        let four = try pascal.batch(indices: indices, augmentation: augmentation, epoch: 2, threads: 4)
        #expect(one == two)
        #expect(one == four)
    }

    @Test func pascalLabelsAgreeWithEachOther() {
        let person = UInt8(SyntheticScenes.semsegClasses(.pascal).firstIndex(of: "person")!)
        let classes = SyntheticScenes.semsegClasses(.pascal)
        let sky = UInt8(classes.firstIndex(of: "sky")!), background = UInt8(0)
        #expect(person == 15)
        #expect(classes.count == 26 && Array(classes.suffix(5)) == ["sky", "grass", "ground", "road", "building"])
        #expect(pascal.outputs(of: .semseg) == 26 && pascal.outputs(of: .humanParts) == 7)
        var imagesWithPeople = 0, imagesWithoutPeople = 0
        for index in 0..<pascal.count {
            let sample = pascal.sample(at: index), labels = sample.labels, plane = sample.pixels
            let semseg = labels.semseg!, parts = labels.humanParts!, saliency = labels.saliency!, normals = labels.normals!
            #expect(semseg.allSatisfy { $0 < 26 })
            #expect(saliency.allSatisfy { $0 == 0 || $0 == 1 })
            #expect(sample.rgb.allSatisfy { $0 >= 0 && $0 <= 1 })
            if parts.allSatisfy({ $0 == ignoreLabel }) {
                imagesWithoutPeople += 1
                #expect(!semseg.contains(person))
            } else {
                imagesWithPeople += 1
                for i in 0..<plane {
                    // Parts exactly where the person class is.
                    #expect((parts[i] != 0) == (semseg[i] == person))
                    #expect(parts[i] <= 6)
                }
            }
            for i in 0..<plane {
                let n = (normals[i], normals[plane + i], normals[2 * plane + i])
                if n != (0, 0, 0) {
                    #expect(abs((n.0 * n.0 + n.1 * n.1 + n.2 * n.2).squareRoot() - 1) < 1e-3)
                } else {
                    #expect(semseg[i] == sky && saliency[i] == 0)  // only the sky has no surface
                }
                if n != (0, 0, 0) { #expect(semseg[i] != sky) }
                // Salient pixels are objects or figures: never stuff, never clutter.
                if saliency[i] == 1 { #expect(semseg[i] != background && semseg[i] < 21) }
            }
        }
        #expect(imagesWithPeople > 0 && imagesWithoutPeople > 0)
    }

    @Test func roomLabelsAgreeWithEachOther() {
        #expect(nyud.tasks == [.semseg, .depth, .normals])
        #expect(nyud.outputs(of: .semseg) == 16)
        for index in 0..<nyud.count {
            let sample = nyud.sample(at: index), plane = sample.pixels
            let semseg = sample.labels.semseg!, depth = sample.labels.depth!, normals = sample.labels.normals!
            #expect(semseg.allSatisfy { $0 < 16 })
            // A closed room: every pixel sees a surface at a positive, plausible depth.
            #expect(depth.allSatisfy { $0 > 0 && $0 < 20 })
            for i in 0..<plane {
                let n = (normals[i], normals[plane + i], normals[2 * plane + i])
                #expect(abs((n.0 * n.0 + n.1 * n.1 + n.2 * n.2).squareRoot() - 1) < 1e-3)
                // Floor normals point up in the camera frame (the camera is upright).
                if semseg[i] == 1 { #expect(n.1 > 0.5) }
                if semseg[i] == 2 { #expect(n.1 < -0.5) }
            }
        }
    }

    @Test func depthAndNormalsComeFromTheSameGeometry() {
        // On the floor, depth grows toward the horizon: lower rows are nearer.
        let sample = nyud.sample(at: 0), width = sample.width
        let semseg = sample.labels.semseg!, depth = sample.labels.depth!
        for x in stride(from: 0, to: width, by: 4) {
            let rows = (0..<sample.height).filter { semseg[$0 * width + x] == 1 }
            guard rows.count >= 2 else { continue }
            let bottom = rows.max()!, top = rows.min()!
            #expect(depth[bottom * width + x] <= depth[top * width + x] + 1e-3)
        }
    }

    @Test func tasksCanBeRestricted() {
        let semsegOnly = SyntheticScenes(dataset: .pascal, split: .val, count: 2, height: 16, width: 16, tasks: [.semseg])
        let labels = semsegOnly.sample(at: 1).labels
        #expect(labels.tasks == [.semseg])
    }

    @Test func batchesAreNormalisedAndStacked() throws {
        let batch = try pascal.batch(indices: [4, 2])
        let plane = 32 * 32
        #expect(batch.images.count == 2 * 3 * plane)
        let second = pascal.sample(at: 2)
        for c in 0..<3 {
            let i = 3 * plane + c * plane + 17
            let expected = (second.rgb[c * plane + 17] - ImageNormalization.mean[c]) / ImageNormalization.std[c]
            #expect(abs(batch.images[i] - expected) < 1e-5)
        }
        #expect(Array(batch.labels.semseg![plane...]) == second.labels.semseg!)
        #expect(Array(batch.labels.normals![(3 * plane)...]) == second.labels.normals!)
        #expect(batch.indices == [4, 2])
        // Refilling with a different size reshapes the buffers.
        var reused = batch
        try pascal.fill(&reused, indices: [1])
        #expect(reused.size == 1 && reused.images.count == 3 * plane && reused.labels.saliency!.count == plane)
    }

    @Test func pretrainingSetsAreDeterministicAndNested() throws {
        let small = SyntheticObjects(variant: .imagenet1k, split: .train, count: 30, height: 32, width: 32, seed: 1)
        let large = SyntheticObjects(variant: .imagenet22k, split: .train, count: 30, height: 32, width: 32, seed: 1)
        #expect(small.classes == 20 && large.classes == 400)
        #expect(small.sample(at: 7) == small.sample(at: 7))
        #expect(small.sample(at: 7).label == 7 && large.sample(at: 29).label == 29)
        // 1k: image 27 is family 7 in its second appearance, the 22k class 27.
        #expect(small.sample(at: 27).label == 7 && small.className(7) == "tree" && large.className(27) == "tree/1")
        #expect(small.sample(at: 27).rgb != small.sample(at: 7).rgb)
        #expect(SyntheticObjects.appearance(family: .barrel, variant: 3).hue
                == SyntheticObjects.appearance(family: .barrel, variant: 3).hue)
        let val = SyntheticObjects(variant: .imagenet1k, split: .val, count: 30, height: 32, width: 32, seed: 1)
        #expect(val.sample(at: 7).rgb != small.sample(at: 7).rgb)
        let batch = try small.batch(indices: [0, 101 % 30, 25], augmentation: .papers(seed: 1), epoch: 1, threads: 2)
        #expect(batch.labels == [0, 11, 5])
    }

    @Test func galleryWritesReadablePNGs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gallery-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try SampleGallery.write(pascal, count: 2, to: directory, zoom: 1)
        #expect(files.count == 2 * 5 + 1)
        let image = try PNG.read(directory.appendingPathComponent("001_image.png"))
        #expect(image.width == 32 && image.height == 32 && image.channels == 3)
        let overview = try PNG.read(directory.appendingPathComponent("overview.png"))
        #expect(overview.width == 5 * 32 + 4 * 2 && overview.height == 2 * 32 + 2)
    }
}
