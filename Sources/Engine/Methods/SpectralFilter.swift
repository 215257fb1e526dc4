/// FAAR's channel-wise spectral filter (CW-SP) of TS-PD, for one task at one decoder input
/// resolution: X -> rFFT2 per channel -> times a learned real filter (C x H x (W/2+1), init 1)
/// -> inverse rFFT2 -> gamma * . + beta per channel (init 1 and 0). At initialisation it is the
/// identity.
///
/// Feature maps are N x C x H x W, contiguous. In the half-spectrum columns that are their own
/// mirror (kx = 0, and W/2 for even W) the filter applied at ky is the mean of its values at ky
/// and -ky: the filtered spectrum then stays the spectrum of a real map, the filter acts as a
/// real even convolution kernel, and its gradients are exact.
///
/// The filter is stored flat (C·H·(W/2+1) values): like a norm's scale it is a gain, and 1-D
/// parameters take no weight decay, which would pull it from 1 (the identity) toward 0.
public final class SpectralFilter {
    public let channels: Int
    public let spectra: ChannelSpectra
    public let filterWeight: Parameter
    public let gammaWeight: Parameter
    public let betaWeight: Parameter

    /// Parameters are `name.filter`, `name.gamma`, `name.beta`, decoder parameters.
    public init(name: String, channels: Int, height: Int, width: Int) {
        self.channels = channels
        spectra = ChannelSpectra(height: height, width: width)
        let size = channels * spectra.spectrumSize
        filterWeight = Parameter(name: name + ".filter", shape: [size], role: .decoder,
                                 initialValues: Array(repeating: 1, count: size))
        gammaWeight = Parameter(name: name + ".gamma", shape: [channels], role: .decoder,
                                initialValues: Array(repeating: 1, count: channels))
        betaWeight = Parameter(name: name + ".beta", shape: [channels], role: .decoder, kind: .bias)
    }

    public var parameters: [Parameter] { [filterWeight, gammaWeight, betaWeight] }
    public var parameterCount: Int { parameters.map(\.count).reduce(0, +) }
    private var planeSize: Int { spectra.height * spectra.width }

    public var filter: [Float] { Array(filterWeight.values) }
    public var gamma: [Float] { Array(gammaWeight.values) }
    public var beta: [Float] { Array(betaWeight.values) }
    public var filterGradient: [Float] { Array(filterWeight.gradient!) }
    public var gammaGradient: [Float] { Array(gammaWeight.gradient!) }
    public var betaGradient: [Float] { Array(betaWeight.gradient!) }

    public func setParameters(filter newFilter: [Float], gamma newGamma: [Float], beta newBeta: [Float]) {
        precondition(newFilter.count == filterWeight.count && newGamma.count == channels && newBeta.count == channels,
                     "spectral filter parameters of a different shape")
        _ = filterWeight.values.update(from: newFilter)
        _ = gammaWeight.values.update(from: newGamma)
        _ = betaWeight.values.update(from: newBeta)
    }

    public func zeroGradients() { for parameter in parameters { parameter.zeroGradient() } }

    /// The filter as applied: self-mirrored columns averaged over ky and -ky.
    func effectiveFilter() -> [Float] {
        let filter = self.filter
        var applied = filter
        let (height, half) = (spectra.height, spectra.halfWidth)
        for c in 0..<channels {
            for kx in 0..<half where spectra.isSelfConjugateColumn(kx) {
                for ky in 0..<height {
                    let here = filter[(c * height + ky) * half + kx]
                    let mirror = filter[(c * height + spectra.mirrorRow(ky)) * half + kx]
                    applied[(c * height + ky) * half + kx] = 0.5 * (here + mirror)
                }
            }
        }
        return applied
    }

    /// Multiplies each channel's spectrum by its real filter, in place.
    func multiply(_ spectrum: inout [Float], by applied: [Float], images: Int) {
        let size = spectra.spectrumSize
        for n in 0..<images {
            for c in 0..<channels {
                for k in 0..<size {
                    let f = applied[c * size + k]
                    let at = 2 * ((n * channels + c) * size + k)
                    spectrum[at] *= f
                    spectrum[at + 1] *= f
                }
            }
        }
    }

    public struct Pass {
        let images: Int
        let spectrum: [Float]
        let filtered: [Float]
    }

    /// A forward pass's MACs: the rFFT2, a real filter times each complex value (2), the inverse,
    /// and gamma x + beta (1 per value).
    public func multiplyAccumulates(images: Int) -> Int {
        let maps = images * channels
        return spectra.forwardMACs(channels: maps) + 2 * maps * spectra.spectrumSize + spectra.inverseMACs(channels: maps)
            + maps * planeSize
    }

    public func forward(_ x: [Float], images: Int) -> (output: [Float], pass: Pass) {
        let maps = images * channels
        precondition(x.count == maps * planeSize, "expected \(images) x \(channels) x \(spectra.height) x \(spectra.width) values")
        let spectrum = spectra.forward(x, channels: maps)
        var product = spectrum
        multiply(&product, by: effectiveFilter(), images: images)
        var filtered = [Float](repeating: 0, count: x.count)
        spectra.inverse(&product, channels: maps, into: &filtered)
        var y = filtered
        let (gamma, beta) = (self.gamma, self.beta)
        for m in 0..<maps {
            let c = m % channels
            for k in (m * planeSize)..<((m + 1) * planeSize) { y[k] = gamma[c] * filtered[k] + beta[c] }
        }
        return (y, Pass(images: images, spectrum: spectrum, filtered: filtered))
    }

    /// Accumulates the filter, gamma and beta gradients; returns dL/dX.
    public func backward(_ pass: Pass, outputGradient dy: [Float]) -> [Float] {
        let maps = pass.images * channels
        var dFiltered = dy
        let gamma = self.gamma
        for m in 0..<maps {
            let c = m % channels
            var alongBeta: Float = 0, alongGamma: Float = 0
            for k in (m * planeSize)..<((m + 1) * planeSize) {
                alongBeta += dy[k]
                alongGamma += dy[k] * pass.filtered[k]
                dFiltered[k] = gamma[c] * dy[k]
            }
            betaWeight.gradient?[c] += alongBeta
            gammaWeight.gradient?[c] += alongGamma
        }
        // The filter is a real even kernel, so the map is its own adjoint.
        let gradientSpectrum = spectra.forward(dFiltered, channels: maps)
        accumulateFilterGradient(gradientSpectrum: gradientSpectrum, inputSpectrum: pass.spectrum, images: pass.images)
        var product = gradientSpectrum
        multiply(&product, by: effectiveFilter(), images: pass.images)
        var dx = [Float](repeating: 0, count: dy.count)
        spectra.inverse(&product, channels: maps, into: &dx)
        return dx
    }

    /// dL/dF: each half-spectrum value stands for itself and its mirror (weight 2), except in
    /// self-mirrored columns, where the averaging splits it between ky and -ky.
    private func accumulateFilterGradient(gradientSpectrum d: [Float], inputSpectrum s: [Float], images: Int) {
        guard let filterGradient = filterWeight.gradient else { return }
        let (height, half, size) = (spectra.height, spectra.halfWidth, spectra.spectrumSize)
        let norm = 1 / Float(planeSize)
        var perBin = [Float](repeating: 0, count: channels * size)
        for n in 0..<images {
            for c in 0..<channels {
                for k in 0..<size {
                    let at = 2 * ((n * channels + c) * size + k)
                    perBin[c * size + k] += (d[at] * s[at] + d[at + 1] * s[at + 1]) * norm
                }
            }
        }
        for c in 0..<channels {
            for ky in 0..<height {
                for kx in 0..<half {
                    let k = c * size + ky * half + kx
                    if spectra.isSelfConjugateColumn(kx) {
                        filterGradient[k] += 0.5 * (perBin[k] + perBin[c * size + spectra.mirrorRow(ky) * half + kx])
                    } else {
                        filterGradient[k] += 2 * perBin[k]
                    }
                }
            }
        }
    }
}
