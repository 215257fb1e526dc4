import CFFTW
import Foundation
import Tensors

/// Batched 2-D real FFTs of `count` channels of H x W values each (contiguous, channel after
/// channel), on FFTW. A spectrum holds H x (W/2 + 1) complex values per channel, interleaved
/// (re, im). The inverse is normalised by 1 / (H W), so inverse(forward(x)) = x.
///
/// Plans are made once per channel count with FFTW_ESTIMATE | FFTW_UNALIGNED, so they run on any
/// buffer; executing a plan is thread-safe, planning happens under Tensors' `FFTWPlanner` lock. One
/// instance belongs to one layer.
public final class ChannelSpectra {
    public let height: Int
    public let width: Int
    public var halfWidth: Int { width / 2 + 1 }
    /// Complex values per channel.
    public var spectrumSize: Int { height * halfWidth }

    private var plans: [Int: (forward: OpaquePointer, inverse: OpaquePointer)] = [:]

    public init(height: Int, width: Int) {
        precondition(height >= 1 && width >= 1, "empty feature map")
        self.height = height
        self.width = width
    }

    deinit {
        FFTWPlanner.withLock {
            for plan in plans.values {
                fftwf_destroy_plan(plan.forward)
                fftwf_destroy_plan(plan.inverse)
            }
        }
    }

    private func plan(channels: Int) -> (forward: OpaquePointer, inverse: OpaquePointer) {
        if let plan = plans[channels] { return plan }
        var shape = [Int32(height), Int32(width)]
        let flags = UInt32(FFTW_ESTIMATE | FFTW_UNALIGNED)
        // FFTW_ESTIMATE plans without touching the buffers, so scratch buffers serve for planning.
        var real = [Float](repeating: 0, count: channels * height * width)
        var complex = [Float](repeating: 0, count: 2 * channels * spectrumSize)
        let made = FFTWPlanner.withLock { complex.withUnsafeMutableBufferPointer { c in
            c.baseAddress!.withMemoryRebound(to: fftwf_complex.self, capacity: channels * spectrumSize) { c in
                (fftwf_plan_many_dft_r2c(2, &shape, Int32(channels), &real, nil, 1, Int32(height * width),
                                         c, nil, 1, Int32(spectrumSize), flags)!,
                 fftwf_plan_many_dft_c2r(2, &shape, Int32(channels), c, nil, 1, Int32(spectrumSize),
                                         &real, nil, 1, Int32(height * width), flags)!)
            }
        } }
        plans[channels] = made
        return made
    }

    /// The spectra of `channels` maps (2 x channels x spectrumSize values).
    public func forward(_ x: UnsafePointer<Float>, channels: Int) -> [Float] {
        let plan = plan(channels: channels).forward
        var spectrum = [Float](repeating: 0, count: 2 * channels * spectrumSize)
        spectrum.withUnsafeMutableBufferPointer { s in
            s.baseAddress!.withMemoryRebound(to: fftwf_complex.self, capacity: channels * spectrumSize) { s in
                fftwf_execute_dft_r2c(plan, UnsafeMutablePointer(mutating: x), s)
            }
        }
        return spectrum
    }

    /// The maps of `channels` spectra, normalised. `spectrum` is consumed (FFTW's c2r overwrites
    /// its input).
    public func inverse(_ spectrum: inout [Float], channels: Int, into y: UnsafeMutablePointer<Float>) {
        let plan = plan(channels: channels).inverse
        spectrum.withUnsafeMutableBufferPointer { s in
            s.baseAddress!.withMemoryRebound(to: fftwf_complex.self, capacity: channels * spectrumSize) { s in
                fftwf_execute_dft_c2r(plan, s, y)
            }
        }
        let norm = 1 / Float(height * width)
        for k in 0..<(channels * height * width) { y[k] *= norm }
    }

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
