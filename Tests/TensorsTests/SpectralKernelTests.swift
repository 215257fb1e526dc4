import Foundation
import Testing
@testable import Tensors

// The FFT kernels against the DFT; the spectral filter that trains through them is checked by
// finite differences in Tests/EngineTests/Methods/SpectralDecoderTests.swift.
@Suite struct SpectralKernelTests {
    /// The half spectrum by the DFT definition, in Double.
    func naiveHalfSpectrum(_ x: ArraySlice<Float>, height h: Int, width w: Int) -> [Double] {
        let x = Array(x)
        var out: [Double] = []
        for k in 0..<h {
            for l in 0...(w / 2) {
                var re = 0.0, im = 0.0
                for m in 0..<h {
                    for n in 0..<w {
                        let angle = -2 * Double.pi * (Double(k * m) / Double(h) + Double(l * n) / Double(w))
                        re += Double(x[m * w + n]) * cos(angle)
                        im += Double(x[m * w + n]) * sin(angle)
                    }
                }
                out += [re, im]
            }
        }
        return out
    }

    @Test(arguments: [(3, 4), (4, 5)])
    func realFFT2MatchesTheDefinitionPerImage(shape: (Int, Int)) {
        let (h, w) = shape, transforms = 6, per = h * (w / 2 + 1) * 2
        let x = floats(transforms * h * w, seed: 30)
        var spectrum = [Float](repeating: .nan, count: transforms * per)
        realFFT2(x, &spectrum, height: h, width: w, transforms: transforms)
        for image in 0..<transforms {
            let expected = naiveHalfSpectrum(x[(image * h * w)..<((image + 1) * h * w)], height: h, width: w)
            expectClose(Array(spectrum[(image * per)..<((image + 1) * per)]), expected.map(Float.init), tolerance: 1e-4)
        }
    }

    @Test func inverseRealFFT2InvertsUpToHW() {
        for (h, w) in [(4, 6), (3, 5)] {
            let x = floats(2 * h * w, seed: 31)
            var spectrum = [Float](repeating: .nan, count: 2 * h * (w / 2 + 1) * 2), y = [Float](repeating: .nan, count: x.count)
            realFFT2(x, &spectrum, height: h, width: w, transforms: 2)
            inverseRealFFT2(&spectrum, &y, height: h, width: w, transforms: 2)
            expectClose(y.map { $0 / Float(h * w) }, x, tolerance: 1e-5)
        }
    }
}
