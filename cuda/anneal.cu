// Ising annealing on the GPU: the GPU twins of rust/anneal's simulated annealing and replica exchange.
//
// Many independent chains (SA reads, or reads x replicas for replica exchange) advance in parallel. Each chain
// does sequential Metropolis sweeps with incrementally updated local fields f_i = h_i + sum_j J_ij s_j, flipping
// s_i with probability min(1, exp(-beta dE)), dE = -2 s_i f_i, exactly the CPU's move. Spins and fields are
// stored spin-major ([n][chains]) so the threads of a warp, one chain each, touch consecutive addresses.
//
// Random numbers: Philox4x32-10 (Salmon et al., SC'11), counter-based, so a chain's stream depends only on
// (seed, chain, sweep, spin) and never on the launch shape: results are reproducible for a seed.
//   counter = (spin / 4, sweep, chain, purpose), key = (seed low, seed high); purpose 0: Metropolis,
//   1: initial state, 2: replica swaps (chain = read, spin = slot).
//
// Kernels:
//   anneal_init         one thread per chain: random initial state (or keep it), fields and energy.
//   anneal_sweeps_csr   one thread per chain: sweeps over sparse (CSR) couplings.
//   anneal_sweeps_dense one block per chain: dense couplings; the block shares fields in shared memory and
//                       applies a flip's field updates in parallel (every thread draws the same decision; two
//                       barriers per accepted flip, none per rejected one).
//   pt_swaps            one thread per read: replica-exchange swaps between neighbouring temperatures.
//   philox_kat          Philox known-answer check (tests).

#define ANNEAL_DENSE_MAX_N 4096

struct tc_u4 {
    unsigned x, y, z, w;
};

__device__ __forceinline__ tc_u4 philox4x32_10(tc_u4 c, unsigned k0, unsigned k1) {
    for (int r = 0; r < 10; ++r) {
        const unsigned hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        const unsigned hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = tc_u4{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

__device__ __forceinline__ unsigned philox_word(tc_u4 r, unsigned lane) {
    return lane == 0 ? r.x : lane == 1 ? r.y : lane == 2 ? r.z : r.w;
}

// A uniform draw in (0, 1) from 32 random bits.
__device__ __forceinline__ double uniform01(unsigned bits) { return ((double)bits + 0.5) * 2.3283064365386963e-10; }

__device__ __forceinline__ bool metropolis(double x, unsigned bits) {
    return x <= 0.0 || uniform01(bits) < exp(-x);
}

extern "C" __global__ void philox_kat(const unsigned *__restrict__ input, unsigned *__restrict__ output,
                                      const unsigned long long count) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < count;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned *in = input + 6 * i;
        tc_u4 r = philox4x32_10(tc_u4{in[0], in[1], in[2], in[3]}, in[4], in[5]);
        output[4 * i] = r.x;
        output[4 * i + 1] = r.y;
        output[4 * i + 2] = r.z;
        output[4 * i + 3] = r.w;
    }
}

// Fields and energy of every chain from its state; a fresh random state first when `randomize`.
extern "C" __global__ void anneal_init(const double *__restrict__ h, const unsigned long long *__restrict__ row_start,
                                       const unsigned *__restrict__ cols, const double *__restrict__ vals,
                                       const double offset, const unsigned long long n,
                                       const unsigned long long chains, signed char *__restrict__ states,
                                       double *__restrict__ fields, double *__restrict__ energy,
                                       const unsigned randomize, const unsigned seed_lo, const unsigned seed_hi) {
    for (unsigned long long c = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; c < chains;
         c += (unsigned long long)gridDim.x * blockDim.x) {
        if (randomize) {
            for (unsigned long long i = 0; i < n; i += 4) {
                tc_u4 r = philox4x32_10(tc_u4{(unsigned)(i / 4), 0u, (unsigned)c, 1u}, seed_lo, seed_hi);
                for (unsigned l = 0; l < 4 && i + l < n; ++l)
                    states[(i + l) * chains + c] = (philox_word(r, l) >> 31) ? 1 : -1;
            }
        }
        double e = offset;
        for (unsigned long long i = 0; i < n; ++i) {
            double f = h[i];
            for (unsigned long long q = row_start[i]; q < row_start[i + 1]; ++q)
                f += vals[q] * (double)states[(unsigned long long)cols[q] * chains + c];
            fields[i * chains + c] = f;
            const double si = (double)states[i * chains + c];
            // Each pair appears twice in the symmetric rows: half of J's share, all of h's.
            e += si * (h[i] + 0.5 * (f - h[i]));
        }
        energy[c] = e;
    }
}

extern "C" __global__ void anneal_sweeps_csr(const unsigned long long *__restrict__ row_start,
                                             const unsigned *__restrict__ cols, const double *__restrict__ vals,
                                             const unsigned long long n, const unsigned long long chains,
                                             signed char *__restrict__ states, double *__restrict__ fields,
                                             double *__restrict__ energy, unsigned long long *__restrict__ accepted,
                                             const double *__restrict__ beta_table, const unsigned temps,
                                             const unsigned *__restrict__ chain_temp, const unsigned sweep0,
                                             const unsigned nsweeps, const unsigned seed_lo, const unsigned seed_hi) {
    for (unsigned long long c = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; c < chains;
         c += (unsigned long long)gridDim.x * blockDim.x) {
        double e = energy[c];
        unsigned long long acc = accepted[c];
        const unsigned slot = chain_temp[c];
        for (unsigned s = 0; s < nsweeps; ++s) {
            const double beta = beta_table[(unsigned long long)s * temps + slot];
            for (unsigned long long i0 = 0; i0 < n; i0 += 4) {
                tc_u4 r = philox4x32_10(tc_u4{(unsigned)(i0 / 4), sweep0 + s, (unsigned)c, 0u}, seed_lo, seed_hi);
                for (unsigned l = 0; l < 4 && i0 + l < n; ++l) {
                    const unsigned long long i = i0 + l;
                    const double si = (double)states[i * chains + c];
                    const double de = -2.0 * si * fields[i * chains + c];
                    if (metropolis(beta * de, philox_word(r, l))) {
                        states[i * chains + c] = (signed char)(-si);
                        const double change = -2.0 * si;
                        for (unsigned long long q = row_start[i]; q < row_start[i + 1]; ++q)
                            fields[(unsigned long long)cols[q] * chains + c] += vals[q] * change;
                        e += de;
                        ++acc;
                    }
                }
            }
        }
        energy[c] = e;
        accepted[c] = acc;
    }
}

// Blocks of at least 32 threads (256 on a GPU) and n <= ANNEAL_DENSE_MAX_N; J is n x n row-major, zero diagonal.
extern "C" __global__ void anneal_sweeps_dense(const double *__restrict__ J, const unsigned long long n,
                                               const unsigned long long chains, signed char *__restrict__ states,
                                               double *__restrict__ fields, double *__restrict__ energy,
                                               unsigned long long *__restrict__ accepted,
                                               const double *__restrict__ beta_table, const unsigned temps,
                                               const unsigned *__restrict__ chain_temp, const unsigned sweep0,
                                               const unsigned nsweeps, const unsigned seed_lo,
                                               const unsigned seed_hi) {
    __shared__ double f[ANNEAL_DENSE_MAX_N];
    __shared__ signed char sp[ANNEAL_DENSE_MAX_N];
    __shared__ unsigned bits[128];
    const unsigned tid = threadIdx.x;
    for (unsigned long long c = blockIdx.x; c < chains; c += gridDim.x) {
        for (unsigned long long i = tid; i < n; i += blockDim.x) {
            f[i] = fields[i * chains + c];
            sp[i] = states[i * chains + c];
        }
        double e = energy[c];
        unsigned long long acc = accepted[c];
        const unsigned slot = chain_temp[c];
        __syncthreads();
        for (unsigned s = 0; s < nsweeps; ++s) {
            const double beta = beta_table[(unsigned long long)s * temps + slot];
            for (unsigned long long base = 0; base < n; base += 128) {
                if (tid < 32) {
                    tc_u4 r = philox4x32_10(tc_u4{(unsigned)(base / 4) + tid, sweep0 + s, (unsigned)c, 0u}, seed_lo,
                                            seed_hi);
                    bits[4 * tid] = r.x;
                    bits[4 * tid + 1] = r.y;
                    bits[4 * tid + 2] = r.z;
                    bits[4 * tid + 3] = r.w;
                }
                __syncthreads();
                const unsigned long long end = base + 128 < n ? base + 128 : n;
                for (unsigned long long i = base; i < end; ++i) {
                    // Every thread reads the same values and draws the same decision: no divergence.
                    const double si = (double)sp[i];
                    const double de = -2.0 * si * f[i];
                    if (metropolis(beta * de, bits[i - base])) {
                        // Rejections write nothing, so this barrier is the first since every thread read
                        // f[i] and sp[i] (and anything earlier): only now may they change.
                        __syncthreads();
                        const double change = -2.0 * si;
                        const double *row = J + i * n;
                        for (unsigned long long j = tid; j < n; j += blockDim.x) f[j] += row[j] * change;
                        if (tid == 0) sp[i] = (signed char)(-si);
                        e += de;
                        ++acc;
                        __syncthreads();
                    }
                }
                __syncthreads();
            }
        }
        for (unsigned long long i = tid; i < n; i += blockDim.x) {
            fields[i * chains + c] = f[i];
            states[i * chains + c] = sp[i];
        }
        if (tid == 0) {
            energy[c] = e;
            accepted[c] = acc;
        }
        __syncthreads();
    }
}

// One replica-exchange round for every read: neighbouring slots (parity, parity+1), (parity+2, parity+3), ...
// swap their chains with probability min(1, exp(-(b[s+1] - b[s]) (E_a - E_b))). at[read][slot] is the chain at
// each temperature slot (0 hottest), chain_temp its inverse. Also tracks round trips and, with keep_best, the
// lowest-energy state seen at the coldest slot.
extern "C" __global__ void pt_swaps(const double *__restrict__ betas, const unsigned replicas,
                                    const unsigned long long reads, const unsigned long long n,
                                    const double *__restrict__ energy, unsigned *__restrict__ at,
                                    unsigned *__restrict__ chain_temp, signed char *__restrict__ heading,
                                    unsigned long long *__restrict__ tried, unsigned long long *__restrict__ taken,
                                    unsigned long long *__restrict__ round_trips, const unsigned round,
                                    const unsigned count_swaps, const unsigned keep_best,
                                    double *__restrict__ best_energy, const signed char *__restrict__ states,
                                    signed char *__restrict__ best_state, const unsigned seed_lo,
                                    const unsigned seed_hi) {
    const unsigned long long chains = reads * replicas;
    for (unsigned long long rd = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; rd < reads;
         rd += (unsigned long long)gridDim.x * blockDim.x) {
        unsigned *slots = at + rd * replicas;
        tc_u4 r = tc_u4{0u, 0u, 0u, 0u};
        for (unsigned s = round % 2, draw = 0; s + 1 < replicas; s += 2, ++draw) {
            if (draw % 4 == 0) r = philox4x32_10(tc_u4{draw / 4, round, (unsigned)rd, 2u}, seed_lo, seed_hi);
            const unsigned a = slots[s], b = slots[s + 1];
            const double x = (betas[s + 1] - betas[s]) * (energy[a] - energy[b]);
            if (count_swaps) ++tried[rd * (replicas - 1) + s];
            if (metropolis(x, philox_word(r, draw % 4))) {
                slots[s] = b;
                slots[s + 1] = a;
                chain_temp[a] = s + 1;
                chain_temp[b] = s;
                if (count_swaps) ++taken[rd * (replicas - 1) + s];
            }
        }
        const unsigned hottest = slots[0], coldest = slots[replicas - 1];
        if (heading[hottest] == 1) heading[hottest] = -1;
        if (heading[coldest] == -1) ++round_trips[rd];
        heading[coldest] = 1;
        if (keep_best && energy[coldest] < best_energy[rd]) {
            best_energy[rd] = energy[coldest];
            for (unsigned long long i = 0; i < n; ++i) best_state[rd * n + i] = states[i * chains + coldest];
        }
    }
}
