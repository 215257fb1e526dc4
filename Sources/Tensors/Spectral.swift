import CFFTW
import Synchronization

// Complex tensors are real tensors with a trailing dimension of 2 holding
// (real, imaginary) interleaved: the layout of fftwf_complex, so FFTW reads and
// writes tensor storage directly. A half spectrum of an H x W real image is
// [..., H, W/2 + 1, 2].

/// Unnormalised batched 2-D real FFT of `transforms` H x W images laid out back to back
/// into their half spectra ([transforms, H, W/2+1] interleaved complex): the kernel behind
/// `rfft2` and the engine's spectral layers. Any buffers will do (the plans are unaligned).
public func realFFT2(_ x: UnsafePointer<Float>, _ spectrum: UnsafeMutablePointer<Float>,
                     height: Int, width: Int, transforms: Int) {
    FFTPlans.shared.plans(height: height, width: width, transforms: transforms)
        .forward(UnsafeMutablePointer(mutating: x), spectrum)
}

/// The unnormalised inverse of `realFFT2` (the result is H W times the image). Overwrites
/// `spectrum`: FFTW's multi-dimensional c2r cannot preserve its input.
public func inverseRealFFT2(_ spectrum: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                            height: Int, width: Int, transforms: Int) {
    FFTPlans.shared.plans(height: height, width: width, transforms: transforms).inverse(spectrum, y)
}

/// A forward (r2c) and inverse (c2r) FFTW plan pair for `transforms` images of
/// H x W, laid out back to back. Executed with FFTW's new-array interface, which is
/// thread-safe; planned FFTW_UNALIGNED, so any buffer (tensor storage or a Swift array) serves.
struct FFTPlanPair: @unchecked Sendable {
    let r2c: OpaquePointer
    let c2r: OpaquePointer

    func forward(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        fftwf_execute_dft_r2c(r2c, input, complex(output))
    }

    /// Overwrites `input` (FFTW's multi-dimensional c2r cannot preserve it).
    func inverse(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        fftwf_execute_dft_c2r(c2r, complex(input), output)
    }
}

private func complex(_ p: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<fftwf_complex> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: fftwf_complex.self)
}

/// FFTW's planner (making and destroying plans) is not thread-safe, and it is one
/// planner per process: every caller in the process, this library and the engine's
/// layers alike, must plan under this one lock. Executing a plan with the new-array
/// interface needs no lock.
public enum FFTWPlanner {
    private static let lock = Mutex<Void>(())

    public static func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try lock.withLock { _ in try body() }
    }
}

/// Plans cached per (H, W, transforms) for the whole process, never destroyed. Planning
/// happens under `FFTWPlanner`'s lock; FFTW_ESTIMATE picks the algorithm without timing
/// runs, so the same shape always gets the same plan and bit-identical results.
final class FFTPlans: Sendable {
    static let shared = FFTPlans()

    private struct Key: Hashable { let height, width, transforms: Int }
    private let cache = Mutex<[Key: FFTPlanPair]>([:])

    private static let flags = UInt32(FFTW_ESTIMATE | FFTW_UNALIGNED)

    func plans(height h: Int, width w: Int, transforms: Int) -> FFTPlanPair {
        let key = Key(height: h, width: w, transforms: transforms)
        return cache.withLock { cache in
            if let found = cache[key] { return found }
            let half = w / 2 + 1
            let real = Storage(count: transforms * h * w), spectrum = Storage(count: transforms * h * half * 2)
            var dims: [Int32] = [Int32(h), Int32(w)]
            let (r2c, c2r) = FFTWPlanner.withLock {
                (fftwf_plan_many_dft_r2c(2, &dims, Int32(transforms), real.pointer, nil, 1, Int32(h * w),
                                         complex(spectrum.pointer), nil, 1, Int32(h * half), Self.flags),
                 fftwf_plan_many_dft_c2r(2, &dims, Int32(transforms), complex(spectrum.pointer), nil, 1, Int32(h * half),
                                         real.pointer, nil, 1, Int32(h * w), Self.flags))
            }
            guard let r2c, let c2r else { fatalError("FFTW could not plan \(transforms) transforms of \(h)x\(w)") }
            let pair = FFTPlanPair(r2c: r2c, c2r: c2r)
            cache[key] = pair
            return pair
        }
    }
}
