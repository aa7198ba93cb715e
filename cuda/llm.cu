// Transformer inference kernels: the GPU twins of rust/llm (model.rs, matmul.rs, quant_dot.rs).
//
// The forward pass follows the CPU engine step by step and rounds as it does (compiled without FMA
// contraction): activations are quantized to 8 bits per block exactly as llama.cpp's CPU backend does
// (Q8_0/Q8_1 for the 32-blocks, Q8_K for the K-quants), weight blocks are dequantised in registers and
// multiplied in integers, RMSNorm sums squares in double, K/V, queries and attention probabilities are rounded
// through f16, and every sequential sum the CPU takes in order (a score over the head dimension, a softmax
// sum, a weighted sum of values) is taken in the same order by one thread. What differs is the order of the
// float sums across weight blocks (a warp reduction) and the libm of exp/sin/cos/tanh.
//
// Weight types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K (GGML type ids 2, 3, 6, 7, 8, 12, 14).

// +infinity without <cmath> (NVRTC has none).
#define TC_INF __int_as_float(0x7f800000)
#define GGML_Q4_0 2
#define GGML_Q4_1 3
#define GGML_Q5_0 6
#define GGML_Q5_1 7
#define GGML_Q8_0 8
#define GGML_Q4_K 12
#define GGML_Q6_K 14

// ---------------------------------------------------------------------------------------------- f16 helpers

__device__ __forceinline__ float half_bits_to_float(unsigned h) {
    const unsigned sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        const float v = (float)mant * 5.9604644775390625e-8f; // mant * 2^-24, exact
        return sign ? -v : v;
    }
    if (exp == 31) return __uint_as_float(sign | 0x7f800000u | (mant << 13));
    return __uint_as_float(sign | ((exp + 112) << 23) | (mant << 13));
}

// Round to the nearest f16 (ties to even), as the CPU's half::f16::from_f32.
__device__ __forceinline__ unsigned float_to_half_bits(float f) {
    const unsigned x = __float_as_uint(f);
    const unsigned sign = (x >> 16) & 0x8000u;
    const int fexp = (int)((x >> 23) & 0xff);
    unsigned mant = x & 0x7fffffu;
    if (fexp == 0xff) return sign | 0x7c00u | (mant ? 0x200u : 0u);
    const int exp = fexp - 127 + 15;
    if (exp >= 31) return sign | 0x7c00u;
    if (exp <= 0) {
        if (exp < -10) return sign;
        mant |= 0x800000u;
        const unsigned shift = (unsigned)(14 - exp);
        unsigned hm = mant >> shift;
        const unsigned rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1u))) ++hm;
        return sign | hm;
    }
    unsigned h = sign | ((unsigned)exp << 10) | (mant >> 13);
    const unsigned rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
    return h;
}

__device__ __forceinline__ float f16_round(float x) { return half_bits_to_float(float_to_half_bits(x)); }

__device__ __forceinline__ float ld_f16(const unsigned char *p) { return half_bits_to_float(p[0] | (p[1] << 8)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}

__device__ __forceinline__ int warp_sum_int(int v) {
    for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
    return v;
}

// Tests: f16 rounding of every input.
extern "C" __global__ void f16_round_kernel(const float *__restrict__ x, float *__restrict__ out,
                                            const unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = f16_round(x[i]);
}

// ----------------------------------------------------------------------------- activation quantization

// quantize_row_q8_0 / q8_1 per 32 values: d = max|x| / 127, q = round(x / d) (half away from zero), d (and
// the scaled sum for Q8_1) kept as f16. One warp per block; blocks of a multiple of 32 threads.
extern "C" __global__ void quantize_q8(const float *__restrict__ x, const unsigned long long nblocks,
                                       const unsigned with_sum, signed char *__restrict__ qs,
                                       float *__restrict__ d_out, float *__restrict__ s_out) {
    const unsigned lane = threadIdx.x % 32;
    const unsigned long long warps = (unsigned long long)gridDim.x * (blockDim.x / 32);
    for (unsigned long long b = (blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x) / 32; b < nblocks;
         b += warps) {
        const float v = x[b * 32 + lane];
        const float amax = warp_max(fabsf(v));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const int q = (int)roundf(v * id);
        qs[b * 32 + lane] = (signed char)q;
        const int sum = warp_sum_int(q);
        if (lane == 0) {
            d_out[b] = f16_round(d);
            s_out[b] = with_sum ? f16_round(d * (float)sum) : 0.0f;
        }
    }
}

// quantize_row_q8_K_ref per 256 values: the value of largest magnitude (the first one) sets
// iscale = -127 / max, q = min(nearest_even(iscale x), 127), d = 1 / iscale, plus the sums of each 16.
// One warp per block, eight consecutive values per lane.
extern "C" __global__ void quantize_q8k(const float *__restrict__ x, const unsigned long long nblocks,
                                        signed char *__restrict__ qs, float *__restrict__ d_out,
                                        short *__restrict__ bsums) {
    const unsigned lane = threadIdx.x % 32;
    const unsigned long long warps = (unsigned long long)gridDim.x * (blockDim.x / 32);
    for (unsigned long long b = (blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x) / 32; b < nblocks;
         b += warps) {
        const float *xs = x + b * 256 + lane * 8;
        float amax = 0.0f, max = 0.0f;
        int at = 256;
        for (int k = 0; k < 8; ++k) {
            if (fabsf(xs[k]) > amax) {
                amax = fabsf(xs[k]);
                max = xs[k];
                at = lane * 8 + k;
            }
        }
        // The first index of the largest magnitude wins, as in the sequential scan.
        for (int m = 16; m > 0; m >>= 1) {
            const float oa = __shfl_xor_sync(0xffffffffu, amax, m);
            const float om = __shfl_xor_sync(0xffffffffu, max, m);
            const int oat = __shfl_xor_sync(0xffffffffu, at, m);
            if (oa > amax || (oa == amax && oat < at)) {
                amax = oa;
                max = om;
                at = oat;
            }
        }
        signed char *q = qs + b * 256 + lane * 8;
        if (amax == 0.0f) {
            for (int k = 0; k < 8; ++k) q[k] = 0;
            if (lane < 16) bsums[b * 16 + lane] = 0;
            if (lane == 0) d_out[b] = 0.0f;
            continue;
        }
        const float iscale = -127.0f / max;
        int part = 0;
        for (int k = 0; k < 8; ++k) {
            int v = (int)rintf(iscale * xs[k]);
            v = v < 127 ? v : 127;
            q[k] = (signed char)v;
            part += v;
        }
        const int pair = part + __shfl_xor_sync(0xffffffffu, part, 1);
        if (lane % 2 == 0) bsums[b * 16 + lane / 2] = (short)pair;
        if (lane == 0) d_out[b] = 1.0f / iscale;
    }
}

// ----------------------------------------------------------------------------------- block dot products

__device__ __forceinline__ int dot_q8_32(const signed char *w, const signed char *a) {
    int s = 0;
    for (int j = 0; j < 32; ++j) s += (int)w[j] * (int)a[j];
    return s;
}

// One weight block of a 32-type against its Q8 activation block.
__device__ float block_dot_32(const unsigned type, const unsigned char *b, const signed char *aq, const float ad,
                              const float as) {
    int s = 0;
    switch (type) {
    case GGML_Q8_0:
        return (float)dot_q8_32((const signed char *)(b + 2), aq) * (ld_f16(b) * ad);
    case GGML_Q4_0:
    case GGML_Q4_1: {
        const bool with_min = type == GGML_Q4_1;
        const unsigned char *qs = b + (with_min ? 4 : 2);
        const int bias = with_min ? 0 : 8;
        for (int j = 0; j < 16; ++j) {
            s += ((int)(qs[j] & 0x0f) - bias) * (int)aq[j];
            s += ((int)(qs[j] >> 4) - bias) * (int)aq[j + 16];
        }
        const float r = (float)s * (ld_f16(b) * ad);
        return with_min ? r + ld_f16(b + 2) * as : r;
    }
    case GGML_Q5_0:
    case GGML_Q5_1: {
        const bool with_min = type == GGML_Q5_1;
        const unsigned at = with_min ? 4 : 2;
        const unsigned qh = b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | ((unsigned)b[at + 3] << 24);
        const unsigned char *qs = b + at + 4;
        const int bias = with_min ? 0 : 16;
        for (int j = 0; j < 16; ++j) {
            const unsigned xh0 = ((qh >> j) << 4) & 0x10, xh1 = (qh >> (j + 12)) & 0x10;
            s += ((int)((qs[j] & 0x0f) | xh0) - bias) * (int)aq[j];
            s += ((int)((qs[j] >> 4) | xh1) - bias) * (int)aq[j + 16];
        }
        const float r = (float)s * (ld_f16(b) * ad);
        return with_min ? r + ld_f16(b + 2) * as : r;
    }
    }
    return 0.0f;
}

__device__ __forceinline__ void scale_min_k4(int j, const unsigned char *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// One Q4_K or Q6_K super-block against its Q8_K activation block.
__device__ float block_dot_k(const unsigned type, const unsigned char *b, const signed char *aq, const float ad,
                             const short *bsums) {
    if (type == GGML_Q4_K) {
        const float d = ld_f16(b) * ad, dmin = ld_f16(b + 2) * ad;
        const unsigned char *scales = b + 4, *qs = b + 16;
        int sum_scaled = 0, sum_mins = 0;
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            scale_min_k4(j, scales, &sc, &m);
            const unsigned char *q = qs + 32 * (j / 2);
            const signed char *y = aq + 32 * j;
            const int shift = (j % 2) ? 4 : 0;
            int dot = 0;
            for (int l = 0; l < 32; ++l) dot += (int)((q[l] >> shift) & 0x0f) * (int)y[l];
            sum_scaled += sc * dot;
            sum_mins += m * ((int)bsums[2 * j] + (int)bsums[2 * j + 1]);
        }
        return d * (float)sum_scaled - dmin * (float)sum_mins;
    }
    // Q6_K
    int isum = 0;
    for (int n = 0; n < 2; ++n) {
        const unsigned char *ql = b + 64 * n, *qh = b + 128 + 32 * n;
        const signed char *sc = (const signed char *)(b + 192 + 8 * n);
        const signed char *y = aq + 128 * n;
        int acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = (int)((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
            const int q2 = (int)((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            acc[is] += q1 * y[l];
            acc[is + 2] += q2 * y[l + 32];
            acc[is + 4] += q3 * y[l + 64];
            acc[is + 6] += q4 * y[l + 96];
        }
        for (int k = 0; k < 8; ++k) isum += (int)sc[k] * acc[k];
    }
    return ld_f16(b + 208) * ad * (float)isum;
}

__device__ __forceinline__ unsigned type_bytes(unsigned type) {
    switch (type) {
    case GGML_Q4_0: return 18;
    case GGML_Q4_1: return 20;
    case GGML_Q5_0: return 22;
    case GGML_Q5_1: return 24;
    case GGML_Q8_0: return 34;
    case GGML_Q4_K: return 144;
    default: return 210; // Q6_K
    }
}

// out[i][r] = W_r . x_i for `n_in` quantized inputs: one warp per weight row, its lanes over the row's
// blocks, the row read once per input (from cache after the first). Blocks of a multiple of 32 threads.
extern "C" __global__ void qmatmul(const unsigned char *__restrict__ w, const unsigned type,
                                   const unsigned long long rows, const unsigned long long cols,
                                   const unsigned long long n_in, const signed char *__restrict__ aq,
                                   const float *__restrict__ ad, const float *__restrict__ as,
                                   const short *__restrict__ bsums, float *__restrict__ out) {
    const unsigned lane = threadIdx.x % 32;
    const unsigned long long warps = (unsigned long long)gridDim.x * (blockDim.x / 32);
    const bool k_quant = type == GGML_Q4_K || type == GGML_Q6_K;
    const unsigned long long bs = k_quant ? 256 : 32, nblk = cols / bs, ts = type_bytes(type);
    for (unsigned long long r = (blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x) / 32; r < rows;
         r += warps) {
        const unsigned char *row = w + r * nblk * ts;
        for (unsigned long long i = 0; i < n_in; ++i) {
            float acc = 0.0f;
            for (unsigned long long k = lane; k < nblk; k += 32) {
                const unsigned long long ab = i * nblk + k;
                acc += k_quant ? block_dot_k(type, row + k * ts, aq + ab * 256, ad[ab], bsums + ab * 16)
                               : block_dot_32(type, row + k * ts, aq + ab * 32, ad[ab], as[ab]);
            }
            acc = warp_sum(acc);
            if (lane == 0) out[i * rows + r] = acc;
        }
    }
}

// --------------------------------------------------------------------------------- element-wise kernels

// RMSNorm of each row of `len` values: x * w / sqrt(mean(x^2) + eps), squares summed in double. In place
// allowed. One block of 256 threads per row (grid-stride over rows).
extern "C" __global__ void rms_norm(const float *__restrict__ x, const float *__restrict__ w, float *out,
                                    const unsigned long long rows, const unsigned long long len,
                                    const float eps) {
    __shared__ double part[256];
    for (unsigned long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * len;
        double s = 0.0;
        for (unsigned long long i = threadIdx.x; i < len; i += blockDim.x) s += (double)(xr[i] * xr[i]);
        part[threadIdx.x] = s;
        __syncthreads();
        for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
            if (threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
            __syncthreads();
        }
        const float ms = (float)(part[0] / (double)len);
        const float scale = 1.0f / sqrtf(ms + eps);
        for (unsigned long long i = threadIdx.x; i < len; i += blockDim.x) out[r * len + i] = xr[i] * scale * w[i];
        __syncthreads();
    }
}

// x[r][c] += bias[c]
extern "C" __global__ void add_bias(float *__restrict__ x, const float *__restrict__ bias,
                                    const unsigned long long rows, const unsigned long long cols) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < rows * cols;
         i += (unsigned long long)gridDim.x * blockDim.x)
        x[i] += bias[i % cols];
}

// x += y
extern "C" __global__ void add_into(float *__restrict__ x, const float *__restrict__ y,
                                    const unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        x[i] += y[i];
}

// Rotary embedding of `rows` positions (start, start + 1, ...) x `heads` heads of `hd` values (row stride
// heads * hd): pairs (2i, 2i + 1), or (i, i + dim/2) for NeoX, over the first `dim` values; the angle starts
// at pos / pos_scale and is multiplied by base^(-2/dim) once per pair, in f32, as ggml builds it.
extern "C" __global__ void rope(float *__restrict__ x, const unsigned long long rows, const unsigned heads,
                                const unsigned hd, const unsigned long long start, const float pos_scale,
                                const float base, const unsigned dim, const unsigned neox) {
    const unsigned half = dim / 2;
    const unsigned long long total = rows * heads * half;
    const float theta_scale = powf(base, -2.0f / (float)dim);
    for (unsigned long long t = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; t < total;
         t += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned i = (unsigned)(t % half);
        const unsigned long long rh = t / half;
        const unsigned long long row = rh / heads;
        float *v = x + rh * hd;
        float theta = (float)(start + row) / pos_scale;
        for (unsigned k = 0; k < i; ++k) theta *= theta_scale;
        const float s = sinf(theta), c = cosf(theta);
        const unsigned a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

// Appends `rows` positions of keys and values, rounded through f16, to a layer's cache: keys transposed
// (row j of `capacity` positions per dimension j of kv_dim), values position by position.
extern "C" __global__ void kv_store(const float *__restrict__ k, const float *__restrict__ v,
                                    float *__restrict__ kc, float *__restrict__ vc, const unsigned long long rows,
                                    const unsigned long long kv_dim, const unsigned long long start,
                                    const unsigned long long capacity) {
    for (unsigned long long t = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; t < rows * kv_dim;
         t += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned long long i = t / kv_dim, j = t % kv_dim;
        kc[j * capacity + start + i] = f16_round(k[t]);
        vc[(start + i) * kv_dim + j] = f16_round(v[t]);
    }
}

// x = f16(x * scale)
extern "C" __global__ void scale_to_f16(float *__restrict__ x, const unsigned long long n, const float scale) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        x[i] = f16_round(x[i] * scale);
}

// Attention of rows row0 .. row0 + n_rows (positions start + row) over the cache: one block of exactly 128
// threads per (row, head), grid-stride; `scores` holds `capacity` floats per block. Scores are running sums over
// the head dimension in order, the softmax sum is sequential, probabilities are rounded through f16, and each output
// value is a sequential sum over positions: the CPU's `attend`, operation for operation.
extern "C" __global__ void attention(const float *__restrict__ q, const float *__restrict__ kc,
                                     const float *__restrict__ vc, float *__restrict__ out,
                                     float *__restrict__ scores, const unsigned long long row0,
                                     const unsigned long long n_rows, const unsigned long long start,
                                     const unsigned n_head, const unsigned group, const unsigned hd,
                                     const unsigned long long kv_dim, const unsigned long long capacity,
                                     const unsigned long long window, const float scale) {
    __shared__ float red[128];
    __shared__ float total;
    float *sc = scores + blockIdx.x * capacity;
    const unsigned long long q_dim = (unsigned long long)n_head * hd;
    for (unsigned long long task = blockIdx.x; task < n_rows * n_head; task += gridDim.x) {
        const unsigned long long i = row0 + task / n_head;
        const unsigned head = (unsigned)(task % n_head), kvh = head / group;
        const unsigned long long pos = start + i;
        const unsigned long long first = (window > 0 && pos + 1 > window) ? pos + 1 - window : 0;
        const unsigned long long len = pos + 1 - first;
        const float *qv = q + i * q_dim + (unsigned long long)head * hd;
        const float *keys = kc + (unsigned long long)kvh * hd * capacity + first;
        float local_max = -TC_INF;
        for (unsigned long long j = threadIdx.x; j < len; j += blockDim.x) {
            float s = 0.0f;
            for (unsigned d = 0; d < hd; ++d) s += qv[d] * keys[d * capacity + j];
            s *= scale;
            sc[j] = s;
            local_max = fmaxf(local_max, s);
        }
        red[threadIdx.x] = local_max;
        __syncthreads();
        for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
            if (threadIdx.x < h) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + h]);
            __syncthreads();
        }
        const float mx = red[0];
        for (unsigned long long j = threadIdx.x; j < len; j += blockDim.x) sc[j] = expf(sc[j] - mx);
        __syncthreads();
        if (threadIdx.x == 0) {
            float s = 0.0f;
            for (unsigned long long j = 0; j < len; ++j) s += sc[j];
            total = s;
        }
        __syncthreads();
        const float sum = total;
        for (unsigned long long j = threadIdx.x; j < len; j += blockDim.x) sc[j] = f16_round(sc[j] / sum);
        __syncthreads();
        const float *values = vc + first * kv_dim + (unsigned long long)kvh * hd;
        for (unsigned e = threadIdx.x; e < hd; e += blockDim.x) {
            float acc = 0.0f;
            for (unsigned long long j = 0; j < len; ++j) acc += sc[j] * values[j * kv_dim + e];
            out[i * q_dim + (unsigned long long)head * hd + e] = acc;
        }
        __syncthreads();
    }
}

__device__ __forceinline__ float gelu_tanh_f16(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    // ggml's table: exact GELU of the f16 input, rounded to f16.
    const float h = f16_round(x);
    const float e = 0.5f * h * (1.0f + tanhf(0.7978846f * h * (1.0f + 0.044715f * h * h)));
    return f16_round(e);
}

// gate = act(gate) * up, with act GELU-tanh (Gemma) or SiLU.
extern "C" __global__ void glu(float *__restrict__ gate, const float *__restrict__ up, const unsigned long long n,
                               const unsigned gelu) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const float g = gate[i];
        const float a = gelu ? gelu_tanh_f16(g) : g / (1.0f + expf(-g));
        gate[i] = a * up[i];
    }
}

// Greedy decoding on the device: the index of the largest logit (the first of equals, as the CPU's choice).
// One block of exactly 256 threads.
extern "C" __global__ void argmax(const float *__restrict__ x, const unsigned long long n,
                                  unsigned *__restrict__ out) {
    __shared__ float best[256];
    __shared__ unsigned at[256];
    float b = -TC_INF;
    unsigned a = 0xffffffffu;
    // Each thread scans its indices in increasing order, so a strict > keeps its first maximum.
    for (unsigned long long i = threadIdx.x; i < n; i += blockDim.x) {
        if (a == 0xffffffffu || x[i] > b) {
            b = x[i];
            a = (unsigned)i;
        }
    }
    best[threadIdx.x] = b;
    at[threadIdx.x] = a;
    __syncthreads();
    for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
        if (threadIdx.x < h) {
            const float ob = best[threadIdx.x + h];
            const unsigned oa = at[threadIdx.x + h];
            const unsigned ma = at[threadIdx.x];
            if (oa != 0xffffffffu && (ma == 0xffffffffu || ob > best[threadIdx.x] ||
                                      (ob == best[threadIdx.x] && oa < ma))) {
                best[threadIdx.x] = ob;
                at[threadIdx.x] = oa;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = at[0];
}
