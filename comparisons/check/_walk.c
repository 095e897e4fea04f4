/* One pass over two tensors for comparisons/check/metrics.py (loaded with ctypes).

   walk_f32 / walk_f64 (m, r, n, s, out, at): with d[i] = m[i] - s * r[i] in
   the tensors' own precision (as NumPy computes it), write
       out[0] = sum d*d,   out[1] = sum d*r,   out[2] = sum r*r,   out[3] = max |d|
   and *at = the first i where |d[i]| is greatest, or NOT_FOUND.

   NumPy needs six passes for this (subtract, three dot products, argmax,
   argmin); this reads m and r once. Sums are taken in blocks of BLOCK elements
   in the tensors' precision, then added up in double (their last bits depend
   on the vector width the CPU runs: AVX2 and SSE2 builds differ at rounding).

   The greatest |d| is taken on the bit patterns of |d| (sign bit cleared),
   whose unsigned order is the order of the values with NaN above Inf above
   every finite number: no floating-point comparison that NaN rules (or the
   compiler's assumptions about them) could change. A NaN or Inf anywhere
   therefore shows in out[3], and metrics.py redoes the walk with NumPy, which
   finds the first NaN and redoes overflowed float32 sums in float64.
   setup.py builds this with -fassociative-math (the sums vectorise) and
   -ffp-contract=off (d is computed the same way in both loops below); if the
   second loop ever failed to find the block's greatest |d| again, *at is
   NOT_FOUND and metrics.py uses the NumPy walk. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>     /* first, as Python asks; only for the module below */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BLOCK 512
#define NOT_FOUND ((size_t)-1)

/* On x86-64 Linux, GCC and clang compile the walk twice, for AVX2 and for the
   baseline (SSE2), and pick at load time: 0.33 ms instead of 0.55 ms per
   784,000 float32 elements in cache (medians, this project's 2-core machine). */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef CLONES
#define CLONES
#endif

#ifdef _WIN32
#define EXPORT __declspec(dllexport)
#else
#define EXPORT
#endif

#define WALK(NAME, T, U, SIGN)                                                    \
static inline U NAME##_abs_bits(T d)                                              \
{                                                                                 \
    U u;                                                                          \
    memcpy(&u, &d, sizeof u);                                                     \
    return u & ~(SIGN);                                                           \
}                                                                                 \
                                                                                  \
EXPORT CLONES void NAME(const T *m, const T *r, size_t n, T s, double *out, size_t *at) \
{                                                                                 \
    double dd = 0, dr = 0, rr = 0;                                                \
    U best = 0;                                                                   \
    size_t best_at = 0;                                                           \
    for (size_t lo = 0; lo < n; lo += BLOCK) {                                    \
        size_t hi = lo + BLOCK < n ? lo + BLOCK : n;                              \
        T bdd = 0, bdr = 0, brr = 0;                                              \
        U bmax = 0;                                                               \
        for (size_t i = lo; i < hi; i++) {                                        \
            T d = m[i] - s * r[i];                                                \
            U a = NAME##_abs_bits(d);                                             \
            bdd += d * d;                                                         \
            bdr += d * r[i];                                                      \
            brr += r[i] * r[i];                                                   \
            bmax = a > bmax ? a : bmax;                                           \
        }                                                                         \
        dd += bdd; dr += bdr; rr += brr;                                          \
        if (bmax > best) {          /* strictly greater: an earlier tie wins */   \
            best = bmax;                                                          \
            best_at = NOT_FOUND;                                                  \
            for (size_t i = lo; i < hi; i++)                                      \
                if (NAME##_abs_bits(m[i] - s * r[i]) == bmax) { best_at = i; break; } \
        }                                                                         \
    }                                                                             \
    T greatest;                                                                   \
    memcpy(&greatest, &best, sizeof greatest);                                    \
    out[0] = dd; out[1] = dr; out[2] = rr; out[3] = greatest;                     \
    *at = best_at;                                                                \
}

WALK(walk_f32, float, uint32_t, (uint32_t)1 << 31)
WALK(walk_f64, double, uint64_t, (uint64_t)1 << 63)

/* An (empty) module, so that the file setuptools builds is also an importable
   extension module, as its name and every platform's linker expect. */
static struct PyModuleDef walk_module = {
    PyModuleDef_HEAD_INIT, "_walk", "The comparison's one-pass walk; loaded with ctypes by fastwalk.py.", -1, NULL,
};

PyMODINIT_FUNC PyInit__walk(void)
{
    return PyModule_Create(&walk_module);
}
