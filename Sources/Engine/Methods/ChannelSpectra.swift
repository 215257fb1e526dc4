import Foundation
import Tensors

/// Batched 2-D real FFTs of `count` channels of H x W values each (contiguous, channel after
/// channel). A spectrum holds H x (W/2 + 1) complex values per channel, interleaved (re, im).
/// The inverse is normalised by 1 / (H W), so inverse(forward(x)) = x. The transforms are
/// Tensors' `realFFT2` kernels, on its process-wide plan cache.
public struct ChannelSpectra: Sendable {
    public let height: Int
    public let width: Int
    public var halfWidth: Int { width / 2 + 1 }
    /// Complex values per channel.
    public var spectrumSize: Int { height * halfWidth }

    public init(height: Int, width: Int) {
        precondition(height >= 1 && width >= 1, "empty feature map")
        self.height = height
        self.width = width
    }

    /// The spectra of `channels` maps (2 x channels x spectrumSize values).
    public func forward(_ x: UnsafePointer<Float>, channels: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: 2 * channels * spectrumSize) { spectrum, count in
            realFFT2(x, spectrum.baseAddress!, height: height, width: width, transforms: channels)
            count = 2 * channels * spectrumSize
        }
    }

    /// The maps of `channels` spectra, normalised. `spectrum` is consumed (FFTW's c2r overwrites
    /// its input).
    public func inverse(_ spectrum: inout [Float], channels: Int, into y: UnsafeMutablePointer<Float>) {
        spectrum.withUnsafeMutableBufferPointer { s in
            inverseRealFFT2(s.baseAddress!, y, height: height, width: width, transforms: channels)
        }
        let norm = 1 / Float(height * width)
        for k in 0..<(channels * height * width) { y[k] *= norm }
    }

    /// Multiply-accumulates of `forward` over `channels` maps, by the radix-2 count: a complex FFT
    /// of N points is (N/2) log2 N butterflies of one complex multiply (4 real MACs), 2 N log2 N;
    /// a real input needs half of that, N log2 N (N = H W, log2 not rounded for other sizes).
    public func forwardMACs(channels: Int) -> Int {
        let points = Double(height * width)
        return channels * Int((points * log2(points)).rounded())
    }

    /// `inverse`'s: the transform's, and one multiply per value for the 1 / (H W).
    public func inverseMACs(channels: Int) -> Int { forwardMACs(channels: channels) + channels * height * width }

    /// True for the columns of the half spectrum that are their own mirror (kx = 0, and kx = W/2
    /// for even W): there the value at ky and at -ky must agree for the map to stay real.
    public func isSelfConjugateColumn(_ kx: Int) -> Bool {
        kx == 0 || (width % 2 == 0 && kx == width / 2)
    }

    /// The row of -ky.
    public func mirrorRow(_ ky: Int) -> Int { (height - ky) % height }

    /// Radius of frequency (ky, kx), scaled so the highest frequency in both axes is 1.
    public func normalisedRadius(ky: Int, kx: Int) -> Double {
        let fy = Double(min(ky, height - ky)) / Double(height)
        let fx = Double(kx) / Double(width)
        return (fy * fy + fx * fx).squareRoot() / (0.5 * 2.0.squareRoot())
    }
}
