// Host C++ stand-ins for the CUDA built-ins the kernels in cuda/*.cu use, so the same kernel source compiles
// with a host C++20 compiler and runs on CPU threads. Used only by the test emulator in rust/gpu
// (src/emulator.rs), which lets CI without a GPU execute every kernel and compare it with its CPU twin.
//
// Semantics: a launch runs its blocks one after another; the threads of a block are real OS threads, so
// __syncthreads() and warp shuffles are genuine barriers. __shared__ becomes `static`, which is correct
// because only one block runs at a time and every thread waits at the end of a block before the next starts.
// Not emulated: dynamic (extern) shared memory, cooperative groups, texture memory, partial-warp masks.
#pragma once

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace tc_emu {

struct Warp {
    std::unique_ptr<std::barrier<>> bar;
    unsigned long long slots[32];
    unsigned size;
};

struct Block {
    std::unique_ptr<std::barrier<>> bar;
    std::vector<std::unique_ptr<Warp>> warps;
};

inline thread_local dim3 thread_idx;
inline thread_local dim3 block_idx;
inline thread_local unsigned linear_idx;
inline dim3 block_dim;
inline dim3 grid_dim;
inline Block *block = nullptr;

inline Warp &my_warp() { return *block->warps[linear_idx / 32]; }

template <class T> T shuffle_from(T v, int src, bool valid) {
    static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
    Warp &w = my_warp();
    unsigned lane = linear_idx % 32;
    unsigned long long raw = 0;
    std::memcpy(&raw, &v, sizeof(T));
    w.slots[lane] = raw;
    w.bar->arrive_and_wait();
    T out = v;
    if (valid && src >= 0 && static_cast<unsigned>(src) < w.size) {
        std::memcpy(&out, &w.slots[src], sizeof(T));
    }
    w.bar->arrive_and_wait();
    return out;
}

} // namespace tc_emu

#define threadIdx (tc_emu::thread_idx)
#define blockIdx (tc_emu::block_idx)
#define blockDim (tc_emu::block_dim)
#define gridDim (tc_emu::grid_dim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static
#define __launch_bounds__(...)
#define __constant__ static const

inline void __syncthreads() { tc_emu::block->bar->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { tc_emu::my_warp().bar->arrive_and_wait(); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <class T> T __shfl_xor_sync(unsigned, T v, int mask, int = 32) {
    return tc_emu::shuffle_from(v, static_cast<int>((tc_emu::linear_idx % 32) ^ mask), true);
}
template <class T> T __shfl_down_sync(unsigned, T v, unsigned delta, int = 32) {
    return tc_emu::shuffle_from(v, static_cast<int>(tc_emu::linear_idx % 32 + delta), true);
}
template <class T> T __shfl_sync(unsigned, T v, int src, int = 32) { return tc_emu::shuffle_from(v, src, true); }

template <class T> T atomicAdd(T *p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
template <class T> T atomicMin(T *p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (v < old && !a.compare_exchange_weak(old, v)) {
    }
    return old;
}
template <class T> T atomicMax(T *p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (v > old && !a.compare_exchange_weak(old, v)) {
    }
    return old;
}
template <class T> T atomicExch(T *p, T v) { return std::atomic_ref<T>(*p).exchange(v); }
template <class T> T atomicCAS(T *p, T expected, T desired) {
    std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired);
    return expected;
}

template <class T> inline T min(T a, T b) { return b < a ? b : a; }
template <class T> inline T max(T a, T b) { return a < b ? b : a; }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __int_as_float(int x) {
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}
inline float __uint_as_float(unsigned x) {
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}
inline unsigned __float_as_uint(float f) {
    unsigned x;
    std::memcpy(&x, &f, 4);
    return x;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
    return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
template <class T> inline T __ldg(const T *p) { return *p; }

namespace tc_emu {

template <class... A, std::size_t... I>
void invoke(void (*kernel)(A...), void **args, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<A> *>(args[I])...);
}

// Runs every block of the grid on one team of blockDim OS threads; returns 0, or 1 with `err` filled.
template <class... A>
int launch(void (*kernel)(A...), const unsigned *dims, void **args, char *err, std::size_t err_len) {
    dim3 grid{dims[0], dims[1], dims[2]};
    dim3 blk{dims[3], dims[4], dims[5]};
    unsigned long long threads = 1ull * blk.x * blk.y * blk.z;
    if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0) {
        std::snprintf(err, err_len, "invalid launch: %u x %u x %u blocks of %u x %u x %u threads", grid.x,
                      grid.y, grid.z, blk.x, blk.y, blk.z);
        return 1;
    }
    grid_dim = grid;
    block_dim = blk;
    Block b;
    b.bar = std::make_unique<std::barrier<>>(static_cast<std::ptrdiff_t>(threads));
    for (unsigned w0 = 0; w0 < threads; w0 += 32) {
        auto w = std::make_unique<Warp>();
        w->size = static_cast<unsigned>(std::min<unsigned long long>(32, threads - w0));
        w->bar = std::make_unique<std::barrier<>>(w->size);
        b.warps.push_back(std::move(w));
    }
    block = &b;
    std::vector<std::thread> team;
    team.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) {
        team.emplace_back([&, t] {
            linear_idx = t;
            thread_idx = dim3{t % blk.x, (t / blk.x) % blk.y, t / (blk.x * blk.y)};
            for (unsigned z = 0; z < grid.z; ++z)
                for (unsigned y = 0; y < grid.y; ++y)
                    for (unsigned x = 0; x < grid.x; ++x) {
                        block_idx = dim3{x, y, z};
                        invoke(kernel, args, std::index_sequence_for<A...>{});
                        // No thread may start the next block while another still uses this one's __shared__.
                        b.bar->arrive_and_wait();
                    }
        });
    }
    for (auto &t : team) t.join();
    block = nullptr;
    return 0;
}

} // namespace tc_emu

// Exports `tc_emu_launch_<name>`, which the Rust emulator looks up by name.
#define TC_EMU_EXPORT(name)                                                                                      \
    extern "C" int tc_emu_launch_##name(const unsigned *dims, void **args, char *err, std::size_t err_len) {     \
        return tc_emu::launch(name, dims, args, err, err_len);                                                   \
    }
