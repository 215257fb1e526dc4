import CFFTW
import Synchronization

// Complex tensors are real tensors with a trailing dimension of 2 holding
// (real, imaginary) interleaved: the layout of fftwf_complex, so FFTW reads and
// writes tensor storage directly. A half spectrum of an H x W real image is
// [..., H, W/2 + 1, 2].

/// 2-D real FFT over the last two dimensions: x [..., H, W] -> [..., H, W/2+1, 2],
/// unnormalised (torch.fft.rfft2 with norm="backward"). Every leading index (batch,
/// channel) is one transform of a single batched FFTW plan.
public func rfft2(_ x: Tensor) -> Tensor {
    precondition(x.rank >= 2, "rfft2 needs [..., H, W], got \(x.shape)")
    let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1], half = w / 2 + 1
    let transforms = x.count / (h * w)
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [half, 2])
    let plans = FFTPlans.shared.plans(height: h, width: w, transforms: transforms)
    plans.forward(x.data, y.data)
    y.record(x) { y in
        guard let gx = x.gradSink() else { return }
        // x -> Y is linear; its adjoint is an unnormalised c2r of the gradient with
        // the columns that c2r counts twice (all but DC and Nyquist) halved.
        let spectrum = Storage(count: y.count), image = Storage(count: x.count)
        spectrum.pointer.update(from: y.grad!, count: y.count)
        halveDoubledColumns(spectrum.pointer, rows: transforms * h, width: w)
        plans.inverse(spectrum.pointer, image.pointer)
        for i in 0..<x.count { gx[i] += image.pointer[i] }
    }
    return y
}

/// Inverse of `rfft2`: a half spectrum [..., H, W/2+1, 2] -> real [..., H, W],
/// normalised by 1/(H W) (torch.fft.irfft2 with norm="backward"). As in FFTW and
/// PyTorch, the imaginary parts of the DC and Nyquist columns do not reach the output.
public func irfft2(_ spectrum: Tensor, width w: Int) -> Tensor {
    precondition(spectrum.rank >= 3 && spectrum.shape.last == 2 && spectrum.shape[spectrum.rank - 2] == w / 2 + 1,
                 "irfft2 to width \(w) needs [..., H, \(w / 2 + 1), 2], got \(spectrum.shape)")
    let h = spectrum.shape[spectrum.rank - 3], half = w / 2 + 1
    let transforms = spectrum.count / (h * half * 2)
    let y = Tensor(uninitialized: Array(spectrum.shape.dropLast(2)) + [w])
    let plans = FFTPlans.shared.plans(height: h, width: w, transforms: transforms)
    let scratch = Storage(count: spectrum.count)  // c2r overwrites its input
    scratch.pointer.update(from: spectrum.data, count: spectrum.count)
    plans.inverse(scratch.pointer, y.data)
    let scale = 1 / Float(h * w)
    for i in 0..<y.count { y.data[i] *= scale }
    y.record(spectrum) { y in
        guard let gs = spectrum.gradSink() else { return }
        // Adjoint: r2c of the gradient, scaled by 1/(HW) and by the column weight
        // c2r applies (1 for DC and Nyquist, 2 elsewhere).
        let transformed = Storage(count: spectrum.count)
        plans.forward(y.grad!, transformed.pointer)
        let t = transformed.pointer
        for row in 0..<(transforms * h) {
            for l in 0..<half {
                let weight = (l == 0 || (w % 2 == 0 && l == w / 2)) ? scale : 2 * scale
                let i = (row * half + l) * 2
                gs[i] += weight * t[i]
                gs[i + 1] += weight * t[i + 1]
            }
        }
    }
    return y
}

/// Complex spectrum [..., H, Wf, 2] times a real `filter` whose shape is a suffix of
/// [..., H, Wf] (e.g. [C, H, Wf] per channel, shared across the batch): both parts
/// of each coefficient are scaled by the filter value. FAAR's spectral filters.
public func multiplySpectrum(_ spectrum: Tensor, by filter: Tensor) -> Tensor {
    let coefficients = spectrum.count / 2
    precondition(spectrum.shape.last == 2 && Array(spectrum.shape.dropLast().suffix(filter.rank)) == filter.shape,
                 "filter \(filter.shape) does not match spectrum \(spectrum.shape)")
    let f = filter.count
    let y = Tensor(uninitialized: spectrum.shape)
    let ps = spectrum.data, pf = filter.data, py = y.data
    for k in 0..<coefficients {
        let v = pf[k % f]
        py[2 * k] = ps[2 * k] * v
        py[2 * k + 1] = ps[2 * k + 1] * v
    }
    y.record(spectrum, filter) { y in
        let gy = y.grad!, ps = spectrum.data, pf = filter.data
        let gs = spectrum.gradSink(), gf = filter.gradSink()
        for k in 0..<coefficients {
            let v = pf[k % f]
            if let gs {
                gs[2 * k] += gy[2 * k] * v
                gs[2 * k + 1] += gy[2 * k + 1] * v
            }
            gf?[k % f] += gy[2 * k] * ps[2 * k] + gy[2 * k + 1] * ps[2 * k + 1]
        }
    }
    return y
}

/// Halves every column of a half spectrum except DC (and Nyquist for even widths).
private func halveDoubledColumns(_ spectrum: UnsafeMutablePointer<Float>, rows: Int, width w: Int) {
    let half = w / 2 + 1
    for row in 0..<rows {
        for l in 1..<half where !(w % 2 == 0 && l == w / 2) {
            spectrum[(row * half + l) * 2] *= 0.5
            spectrum[(row * half + l) * 2 + 1] *= 0.5
        }
    }
}

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
