// OpenBLAS's CBLAS interface. No include guard named CBLAS_H here: that would
// hide OpenBLAS's own header, which uses the same guard.
#include <cblas.h>
// OpenBLAS extension: thread count per process, set per run.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// OpenBLAS extension: the build's description and the kernel set chosen for this CPU (a run's
// provenance in metrics.json).
char* openblas_get_config(void);
char* openblas_get_corename(void);
