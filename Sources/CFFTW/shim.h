// FFTW single precision (fftwf_*).
#include <fftw3.h>
