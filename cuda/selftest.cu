// Self-test kernel: proves the NVRTC -> PTX -> driver launch path end to end.
// `extern "C"` keeps the symbol name unmangled so the host can look it up by name.
// Grid-stride loop: any launch configuration covers all n elements.

extern "C" __global__ void axpy_f64(const double a, const double *__restrict__ x,
                                    double *__restrict__ y, const unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        y[i] = a * x[i] + y[i];
    }
}
