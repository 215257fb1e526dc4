import Foundation
import Testing
@testable import Tensors

@Suite struct SpectralTests {
    /// The half spectrum by the DFT definition, in Double.
    func naiveHalfSpectrum(_ x: [Float], height h: Int, width w: Int) -> [Double] {
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
    func rfft2MatchesTheDefinitionPerChannel(shape: (Int, Int)) {
        let (h, w) = shape
        let x = constant([2, 3, h, w], seed: 30)
        let spectrum = rfft2(x)
        #expect(spectrum.shape == [2, 3, h, w / 2 + 1, 2])
        let values = spectrum.values, per = h * (w / 2 + 1) * 2
        for image in 0..<6 {
            let expected = naiveHalfSpectrum(Array(x.values[(image * h * w)..<((image + 1) * h * w)]), height: h, width: w)
            expectClose(Array(values[(image * per)..<((image + 1) * per)]), expected.map(Float.init), tolerance: 1e-4)
        }
    }

    @Test func irfft2InvertsRfft2() {
        for (h, w) in [(4, 6), (3, 5)] {
            let x = constant([2, h, w], seed: 31)
            expectClose(irfft2(rfft2(x), width: w).values, x.values, tolerance: 1e-5)
        }
    }

    @Test func gradients() {
        for (h, w) in [(4, 6), (3, 5)] {
            let x = parameter([2, h, w], seed: 32)
            expectGradients([x]) { t in rfft2(t[0]) }
            // A spectrum that is not the transform of a real image: its DC and Nyquist
            // imaginary parts are dropped, which the backward must reproduce.
            let spectrum = parameter([2, h, w / 2 + 1, 2], seed: 33)
            expectGradients([spectrum]) { t in irfft2(t[0], width: w) }
            let filter = parameter([h, w / 2 + 1], seed: 34)
            expectGradients([spectrum, filter]) { t in multiplySpectrum(t[0], by: t[1]) }
            expectGradients([x, filter]) { t in irfft2(multiplySpectrum(rfft2(t[0]), by: t[1]), width: w) }
        }
    }

    @Test func unitFilterIsIdentity() {
        let x = constant([2, 3, 4, 8], seed: 35)
        let filtered = irfft2(multiplySpectrum(rfft2(x), by: Tensor.ones([3, 4, 5])), width: 8)
        expectClose(filtered.values, x.values, tolerance: 1e-5)
    }
}
