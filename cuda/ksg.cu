// KSG neighbour search on the GPU: the GPU twin of rust/info/src/ksg.rs `neighbour_counts`.
//
// Exact brute force in the max-norm, tiled through shared memory: each thread owns one query point and scans
// every other point, TILE at a time, loaded cooperatively by the block. Distances are |a - b| and max in
// double precision, exactly as on the CPU, so the k-th distances and hence the neighbour counts are the same.
//
// Pass 1 (ksg_radii): the k nearest neighbours of each point (self excluded; ties broken by the lower index),
//   kept sorted in a per-thread list; writes per-variable radii: the k-th distance for every variable
//   (algorithm 1), or for each variable the largest distance along it among the k neighbours (algorithm 2).
// Pass 2 (ksg_counts): for each point and each marginal space (a bit mask of columns), the number of other
//   points inside the box whose half-width along column c is the radius of c's variable, with `<` (strict,
//   algorithm 1) or `<=` (algorithm 2).

// +infinity without <cmath> (NVRTC has none).
#define TC_INF __int_as_float(0x7f800000)
#define KSG_TILE 128
#define KSG_MAX_DIM 16
#define KSG_MAX_K 64
#define KSG_MAX_MARGINALS 8

// Points base .. base + KSG_TILE (fewer at the end) into shared memory, by the whole block; returns how many.
__device__ unsigned long long load_tile(double *tile, const double *__restrict__ pts, const unsigned long long n,
                                        const unsigned dim, const unsigned long long base) {
    const unsigned long long count = n - base < KSG_TILE ? n - base : KSG_TILE;
    for (unsigned long long e = threadIdx.x; e < count * dim; e += KSG_TILE) tile[e] = pts[base * dim + e];
    __syncthreads();
    return count;
}

// Block size must be KSG_TILE; blockIdx.y selects one of a batch of point sets (surrogates), laid out one after
// another. pts: n x dim row-major per set; col_group[dim]: variable of each column; radii: n x groups per set.
extern "C" __global__ void ksg_radii(const double *__restrict__ pts, const unsigned long long n,
                                     const unsigned int dim, const unsigned int *__restrict__ col_group,
                                     const unsigned int groups, const unsigned int k,
                                     const unsigned int per_variable, double *__restrict__ radii) {
    __shared__ double tile[KSG_TILE * KSG_MAX_DIM];
    pts += blockIdx.y * n * dim;
    radii += blockIdx.y * n * groups;
    const unsigned long long i = (unsigned long long)blockIdx.x * KSG_TILE + threadIdx.x;
    const bool active = i < n;
    double p[KSG_MAX_DIM];
    for (unsigned c = 0; c < dim; ++c) p[c] = active ? pts[i * dim + c] : 0.0;
    double best_d[KSG_MAX_K];
    unsigned long long best_j[KSG_MAX_K];
    for (unsigned q = 0; q < k; ++q) {
        best_d[q] = TC_INF;
        best_j[q] = ~0ull;
    }
    for (unsigned long long base = 0; base < n; base += KSG_TILE) {
        const unsigned long long count = load_tile(tile, pts, n, dim, base);
        if (active) {
            for (unsigned t = 0; t < count; ++t) {
                const unsigned long long j = base + t;
                if (j == i) continue;
                double d = 0.0;
                for (unsigned c = 0; c < dim; ++c) d = fmax(d, fabs(p[c] - tile[t * dim + c]));
                // j rises monotonically, so an equal distance never displaces an earlier index.
                if (d < best_d[k - 1]) {
                    unsigned q = k - 1;
                    while (q > 0 && best_d[q - 1] > d) {
                        best_d[q] = best_d[q - 1];
                        best_j[q] = best_j[q - 1];
                        --q;
                    }
                    best_d[q] = d;
                    best_j[q] = j;
                }
            }
        }
        __syncthreads();
    }
    if (!active) return;
    for (unsigned g = 0; g < groups; ++g) {
        double r = 0.0;
        if (!per_variable) {
            r = best_d[k - 1];
        } else {
            for (unsigned q = 0; q < k; ++q) {
                const double *o = pts + best_j[q] * dim;
                for (unsigned c = 0; c < dim; ++c)
                    if (col_group[c] == g) r = fmax(r, fabs(p[c] - o[c]));
            }
        }
        radii[i * groups + g] = r;
    }
}

// Block size must be KSG_TILE, blockIdx.y the set of the batch. masks[m]: columns of each marginal space;
// counts: n x m per set (self excluded).
extern "C" __global__ void ksg_counts(const double *__restrict__ pts, const unsigned long long n,
                                      const unsigned int dim, const unsigned int *__restrict__ col_group,
                                      const unsigned int groups, const double *__restrict__ radii,
                                      const unsigned int *__restrict__ masks, const unsigned int m,
                                      const unsigned int strict, unsigned int *__restrict__ counts) {
    __shared__ double tile[KSG_TILE * KSG_MAX_DIM];
    pts += blockIdx.y * n * dim;
    radii += blockIdx.y * n * groups;
    counts += blockIdx.y * n * m;
    const unsigned long long i = (unsigned long long)blockIdx.x * KSG_TILE + threadIdx.x;
    const bool active = i < n;
    double p[KSG_MAX_DIM];
    double r[KSG_MAX_DIM];
    for (unsigned c = 0; c < dim; ++c) {
        p[c] = active ? pts[i * dim + c] : 0.0;
        r[c] = active ? radii[i * groups + col_group[c]] : 0.0;
    }
    unsigned mask[KSG_MAX_MARGINALS];
    unsigned cnt[KSG_MAX_MARGINALS];
    for (unsigned q = 0; q < m; ++q) {
        mask[q] = masks[q];
        cnt[q] = 0;
    }
    for (unsigned long long base = 0; base < n; base += KSG_TILE) {
        const unsigned long long count = load_tile(tile, pts, n, dim, base);
        if (active) {
            for (unsigned t = 0; t < count; ++t) {
                if (base + t == i) continue;
                unsigned inside = 0;
                for (unsigned c = 0; c < dim; ++c) {
                    const double d = fabs(p[c] - tile[t * dim + c]);
                    inside |= (unsigned)(strict ? d < r[c] : d <= r[c]) << c;
                }
                for (unsigned q = 0; q < m; ++q) cnt[q] += (inside & mask[q]) == mask[q];
            }
        }
        __syncthreads();
    }
    if (!active) return;
    for (unsigned q = 0; q < m; ++q) counts[i * m + q] = cnt[q];
}
