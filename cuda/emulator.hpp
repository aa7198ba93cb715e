// Host C++ stand-ins for the CUDA built-ins the kernels in cuda/*.cu use, so the same kernel source compiles
// with a host C++20 compiler and runs on the CPU. Used only by the test emulator in rust/gpu (src/emulator.rs),
// which lets CI without a GPU execute every kernel and compare it with its CPU twin.
//
// Semantics: a launch runs its blocks one after another. The threads of a block are fibers on one OS thread
// (stacks made with ucontext, switched with _setjmp/_longjmp, which skip the signal-mask system calls), switched
// only at __syncthreads() and warp operations, so barriers are cheap and exact: a block barrier releases when
// every thread still running the block waits at it, a warp barrier when every such thread of the warp does; a
// barrier that can never release (divergent __syncthreads) fails the launch. The same fibers run every block
// of a launch. __shared__
// becomes `static`, which is correct because one block runs at a time.
// Not emulated: dynamic (extern) shared memory, cooperative groups, textures, partial-warp masks, and any
// timing: data races that a GPU would expose may go unnoticed here.
#pragma once

#include <setjmp.h>
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace tc_emu {

// None: runnable; Block/Warp: at a barrier; BlockEnd: finished the current block; Done: finished the launch.
enum class Wait { None, Block, Warp, BlockEnd, Done };

struct Fiber {
    jmp_buf jb;
    ucontext_t boot;
    dim3 idx;
    unsigned linear = 0;
    Wait wait = Wait::None;
    char *stack = nullptr;
};

// Each fiber's stack; kernels keep their per-thread arrays here. Kept between launches.
constexpr std::size_t STACK_BYTES = 256 * 1024;
inline std::vector<std::unique_ptr<char[]>> stacks;

inline jmp_buf scheduler;
inline ucontext_t boot_return;
inline bool launch_over = false;
inline Fiber *cur = nullptr;
inline dim3 block_idx;
inline dim3 block_dim;
inline dim3 grid_dim;
// Two banks, used alternately: a lane can be one shuffle ahead of the slowest of its warp (it waits at the
// next one), never two, so one barrier per shuffle is enough.
inline unsigned long long warp_slots[2][32 * 32];
inline unsigned lane_calls[1024];
inline std::function<void()> body;

inline void wait_at(Wait w) {
    cur->wait = w;
    if (!_setjmp(cur->jb)) _longjmp(scheduler, 1);
}

inline void resume(Fiber &f) {
    cur = &f;
    if (!_setjmp(scheduler)) _longjmp(f.jb, 1);
}

template <class T> T shuffle_from(T v, int src) {
    static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
    const unsigned lane = cur->linear % 32, warp = cur->linear / 32;
    const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
    const unsigned warp_size = std::min(32u, threads - warp * 32);
    unsigned long long raw = 0;
    std::memcpy(&raw, &v, sizeof(T));
    // Every lane of the warp counts its shuffles alike, so the bank a lane uses is the one its warp uses.
    unsigned &calls = lane_calls[cur->linear];
    unsigned long long *slots = warp_slots[calls++ % 2] + (warp % 32) * 32;
    slots[lane] = raw;
    wait_at(Wait::Warp);
    T out = v;
    if (src >= 0 && static_cast<unsigned>(src) < warp_size) std::memcpy(&out, &slots[src], sizeof(T));
    return out;
}

} // namespace tc_emu

#define threadIdx (tc_emu::cur->idx)
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

inline void __syncthreads() { tc_emu::wait_at(tc_emu::Wait::Block); }
inline void __syncwarp(unsigned = 0xffffffffu) { tc_emu::wait_at(tc_emu::Wait::Warp); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <class T> T __shfl_xor_sync(unsigned, T v, int mask, int = 32) {
    return tc_emu::shuffle_from(v, static_cast<int>((tc_emu::cur->linear % 32) ^ mask));
}
template <class T> T __shfl_down_sync(unsigned, T v, unsigned delta, int = 32) {
    return tc_emu::shuffle_from(v, static_cast<int>(tc_emu::cur->linear % 32 + delta));
}
template <class T> T __shfl_sync(unsigned, T v, int src, int = 32) { return tc_emu::shuffle_from(v, src); }

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

// A fiber's life: parked once at creation, then every block of the launch, then Done.
inline void fiber_main() {
    Fiber *f = cur;
    if (!_setjmp(f->jb)) swapcontext(&f->boot, &boot_return);
    while (!launch_over) {
        body();
        wait_at(Wait::BlockEnd);
    }
    cur->wait = Wait::Done;
    _longjmp(scheduler, 1);
}

// Runs the current block to completion; false (with `err`) when a barrier can never release.
inline bool run_block(std::vector<Fiber> &team, char *err, std::size_t err_len) {
    for (auto &f : team) {
        f.wait = Wait::None;
        lane_calls[f.linear] = 0;
    }
    for (;;) {
        for (auto &f : team)
            if (f.wait == Wait::None) resume(f);
        // Nobody can run: release a warp whose running threads all wait at a warp barrier, else the block.
        bool released = false, running = false, all_at_block = true;
        for (std::size_t w0 = 0; w0 < team.size(); w0 += 32) {
            const std::size_t w1 = std::min(team.size(), w0 + 32);
            bool warp_ready = true, warp_running = false;
            for (std::size_t t = w0; t < w1; ++t) {
                if (team[t].wait == Wait::BlockEnd) continue;
                warp_running = true;
                if (team[t].wait != Wait::Warp) warp_ready = false;
            }
            if (warp_running && warp_ready) {
                for (std::size_t t = w0; t < w1; ++t)
                    if (team[t].wait == Wait::Warp) team[t].wait = Wait::None;
                released = true;
            }
        }
        if (released) continue;
        for (auto &f : team) {
            if (f.wait == Wait::BlockEnd) continue;
            running = true;
            if (f.wait != Wait::Block) all_at_block = false;
        }
        if (!running) return true;
        if (!all_at_block) {
            std::snprintf(err, err_len, "block (%u, %u, %u): threads wait at different barriers (divergent "
                          "__syncthreads or warp operation)", block_idx.x, block_idx.y, block_idx.z);
            return false;
        }
        for (auto &f : team) f.wait = f.wait == Wait::Block ? Wait::None : f.wait;
    }
}

// Runs every block of the grid; returns 0, or 1 with `err` filled.
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
    body = [&] { invoke(kernel, args, std::index_sequence_for<A...>{}); };
    while (stacks.size() < threads) stacks.emplace_back(new char[STACK_BYTES]);
    std::vector<Fiber> team(threads);
    launch_over = false;
    for (unsigned t = 0; t < threads; ++t) {
        Fiber &f = team[t];
        f.linear = t;
        f.idx = dim3{t % blk.x, (t / blk.x) % blk.y, t / (blk.x * blk.y)};
        f.stack = stacks[t].get();
        getcontext(&f.boot);
        f.boot.uc_stack.ss_sp = f.stack;
        f.boot.uc_stack.ss_size = STACK_BYTES;
        f.boot.uc_link = nullptr;
        makecontext(&f.boot, fiber_main, 0);
        cur = &f;
        swapcontext(&boot_return, &f.boot); // parks at its first _setjmp
    }
    for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
            for (unsigned x = 0; x < grid.x; ++x) {
                block_idx = dim3{x, y, z};
                if (!run_block(team, err, err_len)) return 1;
            }
    // Let every fiber leave its loop, so no frame is abandoned mid-kernel.
    launch_over = true;
    for (auto &f : team) resume(f);
    cur = nullptr;
    return 0;
}

} // namespace tc_emu

// Exports `tc_emu_launch_<name>`, which the Rust emulator looks up by name.
#define TC_EMU_EXPORT(name)                                                                                      \
    extern "C" int tc_emu_launch_##name(const unsigned *dims, void **args, char *err, std::size_t err_len) {     \
        return tc_emu::launch(name, dims, args, err, err_len);                                                   \
    }
