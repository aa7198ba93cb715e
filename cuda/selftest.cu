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

// Sum of x over each block, by warp shuffles and then shared memory: proves __syncthreads and
// __shfl_xor_sync on a device (and in the emulator). Blocks must be a multiple of 32 threads.
extern "C" __global__ void block_sums_f64(const double *__restrict__ x, double *__restrict__ out,
                                          const unsigned long long n) {
    __shared__ double warp_sums[32];
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    double v = i < n ? x[i] : 0.0;
    for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        double w = threadIdx.x < blockDim.x / 32 ? warp_sums[threadIdx.x] : 0.0;
        for (int m = 16; m > 0; m >>= 1) w += __shfl_xor_sync(0xffffffffu, w, m);
        if (threadIdx.x == 0) out[blockIdx.x] = w;
    }
}
