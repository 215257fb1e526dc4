/// FAAR's cross-task consensus (XT-Cons) for one main task at one resolution: the main features
/// move toward the mean spectrum of the other tasks' features, separately in a low and a high
/// frequency band,
///   out = X_t + alpha_low * iFFT(M_low (F_avg - F_t)) + alpha_high * iFFT(M_high (F_avg - F_t)),
/// with alpha_low, alpha_high learned scalars starting at 0 (so it starts as a no-op).
///
/// The masks split the spectrum by normalised radius (1 at the highest frequency in both axes):
/// low is radius <= `lowCutoff`, high is radius > `highCutoff`. Both are real and even, so each
/// band-pass is its own adjoint. Since the FFT is linear, F_avg - F_t is the spectrum of
/// mean(X_others) - X_t.
public final class CrossTaskConsensus {
    public let channels: Int
    public let spectra: ChannelSpectra
    public let lowCutoff: Double
    public let highCutoff: Double
    /// (alpha_low, alpha_high), a decoder parameter `name.alpha`.
    public let alphaWeight: Parameter
    let lowMask: [Float]
    let highMask: [Float]

    public init(name: String, channels: Int, height: Int, width: Int, lowCutoff: Double = 0.25, highCutoff: Double = 0.5) {
        precondition(lowCutoff >= 0 && lowCutoff <= highCutoff, "expected 0 <= low cut-off <= high cut-off")
        self.channels = channels
        self.lowCutoff = lowCutoff
        self.highCutoff = highCutoff
        let spectra = ChannelSpectra(height: height, width: width)
        self.spectra = spectra
        var low = [Float](), high = [Float]()
        for ky in 0..<height {
            for kx in 0..<spectra.halfWidth {
                let radius = spectra.normalisedRadius(ky: ky, kx: kx)
                low.append(radius <= lowCutoff ? 1 : 0)
                high.append(radius > highCutoff ? 1 : 0)
            }
        }
        lowMask = low
        highMask = high
        alphaWeight = Parameter(name: name + ".alpha", shape: [2], role: .decoder)
    }

    public var parameters: [Parameter] { [alphaWeight] }
    public var alphaLow: Float { alphaWeight.values[0] }
    public var alphaHigh: Float { alphaWeight.values[1] }
    public var alphaLowGradient: Float { alphaWeight.gradient![0] }
    public var alphaHighGradient: Float { alphaWeight.gradient![1] }

    public func setParameters(alphaLow newLow: Float, alphaHigh newHigh: Float) {
        alphaWeight.values[0] = newLow
        alphaWeight.values[1] = newHigh
    }

    public func zeroGradients() { alphaWeight.zeroGradient() }

    /// The band-passed maps of `x` (maps x H x W) through `mask`.
    func bandPass(spectrum: [Float], mask: [Float], maps: Int) -> [Float] {
        var masked = spectrum
        let size = spectra.spectrumSize
        for m in 0..<maps {
            for k in 0..<size {
                masked[2 * (m * size + k)] *= mask[k]
                masked[2 * (m * size + k) + 1] *= mask[k]
            }
        }
        var out = [Float](repeating: 0, count: maps * spectra.height * spectra.width)
        spectra.inverse(&masked, channels: maps, into: &out)
        return out
    }

    public struct Pass {
        let maps: Int
        let others: Int
        let low: [Float]
        let high: [Float]
    }

    /// A forward pass's MACs against `others` tasks: the mean difference (one per other task and
    /// value), one rFFT2, per band a mask times each complex value (2, counted although the masks
    /// are 0 or 1) and an inverse, then alpha_low and alpha_high (2 per value).
    public func multiplyAccumulates(images: Int, others: Int) -> Int {
        let maps = images * channels, values = maps * spectra.height * spectra.width
        let band = 2 * maps * spectra.spectrumSize + spectra.inverseMACs(channels: maps)
        return others * values + spectra.forwardMACs(channels: maps) + 2 * band + 2 * values
    }

    /// `main`: the main task's features; `others`: the other tasks' features at the same
    /// resolution (each images x C x H x W).
    public func forward(main: [Float], others: [[Float]], images: Int) -> (output: [Float], pass: Pass) {
        precondition(!others.isEmpty, "XT-Cons needs at least one other task")
        precondition(others.allSatisfy { $0.count == main.count }, "every task's features must have the main task's shape")
        let maps = images * channels
        precondition(main.count == maps * spectra.height * spectra.width, "features of an unexpected size")
        let share = 1 / Float(others.count)
        var difference = main.map { -$0 }
        for features in others {
            for k in difference.indices { difference[k] += share * features[k] }
        }
        let spectrum = spectra.forward(difference, channels: maps)
        let low = bandPass(spectrum: spectrum, mask: lowMask, maps: maps)
        let high = bandPass(spectrum: spectrum, mask: highMask, maps: maps)
        var y = main
        for k in y.indices { y[k] += alphaLow * low[k] + alphaHigh * high[k] }
        return (y, Pass(maps: maps, others: others.count, low: low, high: high))
    }

    /// Accumulates the alpha gradients; returns dL/d(main) and dL/d(each other task).
    public func backward(_ pass: Pass, outputGradient dy: [Float]) -> (main: [Float], others: [[Float]]) {
        var alongLow: Double = 0, alongHigh: Double = 0
        for k in dy.indices {
            alongLow += Double(dy[k]) * Double(pass.low[k])
            alongHigh += Double(dy[k]) * Double(pass.high[k])
        }
        alphaWeight.gradient?[0] += Float(alongLow)
        alphaWeight.gradient?[1] += Float(alongHigh)
        let spectrum = spectra.forward(dy, channels: pass.maps)
        let low = bandPass(spectrum: spectrum, mask: lowMask, maps: pass.maps)
        let high = bandPass(spectrum: spectrum, mask: highMask, maps: pass.maps)
        let dDifference = dy.indices.map { alphaLow * low[$0] + alphaHigh * high[$0] }
        let dMain = dy.indices.map { dy[$0] - dDifference[$0] }
        let dOther = dDifference.map { $0 / Float(pass.others) }
        return (dMain, Array(repeating: dOther, count: pass.others))
    }
}
