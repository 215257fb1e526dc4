import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// What the numerics run on, for a run's provenance: other BLAS kernels give other last bits.
public enum NumericLibraries {
    /// OpenBLAS's description of its build ("OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake
    /// MAX_THREADS=64").
    public static var blas: String { String(cString: openblas_get_config()) }

    /// The kernel set OpenBLAS chose for this CPU, or was pinned to through OPENBLAS_CORETYPE.
    public static var blasCore: String { String(cString: openblas_get_corename()) }

    /// FFTW's version string ("fftw-3.3.10-sse2-avx"). FFTW declares it as an array of unknown
    /// size, which Swift does not import, so it is looked up by name.
    public static var fft: String? {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fftwf_version") else { return nil }
        return String(cString: symbol.assumingMemoryBound(to: CChar.self))
        #else
        return nil
        #endif
    }
}
