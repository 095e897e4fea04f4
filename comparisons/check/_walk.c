/* One pass over two tensors for comparisons/check/metrics.py: an extension module
   (comparisons.check._walk), its functions called from fastwalk.py.

   walk_f32 / walk_f64 (m, r, s, lo, hi): over m[lo:hi], r[lo:hi] with
   d[i] = m[i] - s * r[i] in the tensors' own precision (as NumPy computes it),
       (sum d*d, sum d*r, sum r*r, max |d|, the first i where |d[i]| is greatest)
   walk_based_f32 / walk_based_f64 (m, t, b, lo, hi): the same for m - b against
   t - b (an update against the parameters before it) with
   u[i] = t[i] - b[i], d[i] = (m[i] - b[i]) - u[i] and r = u, each rounded in the
   tensors' precision as NumPy rounds the two update arrays and their
   difference: the update rows read the three tensors once and write nothing.
   The index is -1 when not found (see below).
   grid_f32 / grid_f64 (m, t, b, ulps, lo, hi): for the update rows judged on the
   parameters' grid (rules.GRID_ULPS), sum over [lo, hi) of
   max(|m[i] - t[i]| - ulps * spacing(max(|b[i]|, |m[i]|, |t[i]|)), 0)^2 in double,
   spacing as np.spacing (the distance to the next larger value of the dtype;
   NaN where an input is NaN or Inf, and at the largest finite value, where
   NumPy's is Inf: this is one binade's spacing there).

   NumPy needs six passes for this (subtract, three dot products, argmax,
   argmin), eight with the update arrays; this reads each input once. Sums are
   taken in blocks of BLOCK elements in the tensors' precision, then added up in
   double (their last bits depend on the vector width the CPU runs: AVX2 and
   SSE2 builds differ at rounding).

   The greatest |d| is taken on the bit patterns of |d| (sign bit cleared),
   whose unsigned order is the order of the values with NaN above Inf above
   every finite number: no floating-point comparison that NaN rules (or the
   compiler's assumptions about them) could change. A NaN or Inf anywhere
   therefore shows in the maximum, and metrics.py redoes the walk with NumPy,
   which finds the first NaN and redoes overflowed float32 sums in float64.
   setup.py builds this with -fassociative-math (the sums vectorise) and
   -ffp-contract=off (d is computed the same way in both loops below); if the
   second loop ever failed to find the block's greatest |d| again, the index
   is -1 and metrics.py uses the NumPy walk.

   Called as extension functions (METH_FASTCALL, buffers taken with the buffer
   protocol) instead of through ctypes (argument conversion, array addresses):
   per call on 1,000 float32 elements 1.1-2.5 us against 23-42 us, the two
   alternating in one hour on a machine loaded by other jobs (load average
   ~9 on 2 cores; docs/benchmarks.md); the default job makes ~30 calls a step.
   The GIL is released for ranges of RELEASE elements or more, so the shares
   metrics.tensor_diff hands to each core run in parallel; a small tensor keeps
   it (releasing and taking it back costs more than its walk). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#define BLOCK 512
#define NOT_FOUND ((size_t)-1)
#define RELEASE 16384

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

typedef struct { double dd, dr, rr; size_t at; } Sums;

/* Per dtype (SFX): block_SFX reduces one block of n <= BLOCK elements of d = m - s r (its three
   sums in T, its greatest |d| as bits); find_SFX finds the first i whose |d| has those bits;
   scaled_SFX walks [lo, hi) of m and r; based_SFX walks [lo, hi) of m - b against t - b: each block
   of the two update arrays is first written into w and u on the stack (in cache), then reduced as
   w - 1 u. The two loops keep the three roundings: in one loop -fassociative-math lets the compiler
   turn (m - b) - (t - b) into m - t (it did: the tests compare |d| bit for bit with NumPy's). */
#define WALK(SFX, T, U, SIGN)                                                     \
static inline U abs_bits_##SFX(T d)                                               \
{                                                                                 \
    U u;                                                                          \
    memcpy(&u, &d, sizeof u);                                                     \
    return u & ~(SIGN);                                                           \
}                                                                                 \
                                                                                  \
static inline U block_##SFX(const T *m, const T *r, T s, size_t n, T *sums)       \
{                                                                                 \
    T bdd = 0, bdr = 0, brr = 0;                                                  \
    U bmax = 0;                                                                   \
    for (size_t i = 0; i < n; i++) {                                              \
        T d = m[i] - s * r[i];                                                    \
        U a = abs_bits_##SFX(d);                                                  \
        bdd += d * d;                                                             \
        bdr += d * r[i];                                                          \
        brr += r[i] * r[i];                                                       \
        bmax = a > bmax ? a : bmax;                                               \
    }                                                                             \
    sums[0] = bdd; sums[1] = bdr; sums[2] = brr;                                  \
    return bmax;                                                                  \
}                                                                                 \
                                                                                  \
static inline size_t find_##SFX(const T *m, const T *r, T s, size_t n, U bits)   \
{                                                                                 \
    for (size_t i = 0; i < n; i++)                                                \
        if (abs_bits_##SFX(m[i] - s * r[i]) == bits)                              \
            return i;                                                             \
    return NOT_FOUND;                                                             \
}                                                                                 \
                                                                                  \
static T finish_##SFX(double dd, double dr, double rr, U best, size_t at, Sums *out) \
{                                                                                 \
    T greatest;                                                                   \
    memcpy(&greatest, &best, sizeof greatest);                                    \
    out->dd = dd; out->dr = dr; out->rr = rr; out->at = at;                       \
    return greatest;                                                              \
}                                                                                 \
                                                                                  \
static CLONES T scaled_##SFX(const T *m, const T *r, T s, size_t lo, size_t hi, Sums *out) \
{                                                                                 \
    double dd = 0, dr = 0, rr = 0;                                                \
    U best = 0;                                                                   \
    size_t best_at = lo;                                                          \
    T sums[3];                                                                    \
    for (; lo < hi; lo += BLOCK) {                                                \
        size_t n = hi - lo < BLOCK ? hi - lo : BLOCK;                             \
        U bmax = block_##SFX(m + lo, r + lo, s, n, sums);                         \
        dd += sums[0]; dr += sums[1]; rr += sums[2];                              \
        if (bmax > best) {          /* strictly greater: an earlier tie wins */   \
            size_t k = find_##SFX(m + lo, r + lo, s, n, bmax);                    \
            best = bmax;                                                          \
            best_at = k == NOT_FOUND ? NOT_FOUND : lo + k;                        \
        }                                                                         \
    }                                                                             \
    return finish_##SFX(dd, dr, rr, best, best_at, out);                          \
}                                                                                 \
                                                                                  \
static CLONES T based_##SFX(const T *m, const T *t, const T *b, size_t lo, size_t hi, Sums *out) \
{                                                                                 \
    double dd = 0, dr = 0, rr = 0;                                                \
    U best = 0;                                                                   \
    size_t best_at = lo;                                                          \
    T sums[3], w[BLOCK], u[BLOCK];                                                \
    for (; lo < hi; lo += BLOCK) {                                                \
        size_t n = hi - lo < BLOCK ? hi - lo : BLOCK;                             \
        for (size_t i = 0; i < n; i++) {                                          \
            w[i] = m[lo + i] - b[lo + i];                                         \
            u[i] = t[lo + i] - b[lo + i];                                         \
        }                                                                         \
        U bmax = block_##SFX(w, u, 1, n, sums);                                   \
        dd += sums[0]; dr += sums[1]; rr += sums[2];                              \
        if (bmax > best) {                                                        \
            size_t k = find_##SFX(w, u, 1, n, bmax);                              \
            best = bmax;                                                          \
            best_at = k == NOT_FOUND ? NOT_FOUND : lo + k;                        \
        }                                                                         \
    }                                                                             \
    return finish_##SFX(dd, dr, rr, best, best_at, out);                          \
}

WALK(f32, float, uint32_t, (uint32_t)1 << 31)
WALK(f64, double, uint64_t, (uint64_t)1 << 63)

/* Per dtype: the spacing of the dtype at |x| (x finite, bits of |x| given: exponent field e, MANT mantissa
   bits): 2^(e - bias - MANT) for normal x, built as bits; below, the subnormal spacing. */
#define GRID(SFX, T, U, SIGN, MANT, EMAX)                                         \
static inline T spacing_##SFX(U a)                                                \
{                                                                                 \
    U e = a >> (MANT), bits;                                                      \
    T out;                                                                        \
    if (e > (MANT))                                                               \
        bits = (e - (MANT)) << (MANT);                                            \
    else if (e >= 1)                                                              \
        bits = (U)1 << (e - 1);                                                   \
    else                                                                          \
        bits = 1;                                                                 \
    memcpy(&out, &bits, sizeof out);                                              \
    return out;                                                                   \
}                                                                                 \
                                                                                  \
static CLONES double grid_##SFX(const T *m, const T *t, const T *b, double ulps, size_t lo, size_t hi) \
{                                                                                 \
    double total = 0;                                                             \
    for (size_t i = lo; i < hi; i++) {                                            \
        U am = abs_bits_##SFX(m[i]), at = abs_bits_##SFX(t[i]), ab = abs_bits_##SFX(b[i]); \
        U top = am > at ? am : at;                                                \
        top = ab > top ? ab : top;                                                \
        if ((top >> (MANT)) == (EMAX))          /* NaN or Inf somewhere */        \
            return (double)NAN;                                                   \
        double left = fabs((double)m[i] - (double)t[i]) - ulps * (double)spacing_##SFX(top); \
        total += left > 0 ? left * left : 0;                                      \
    }                                                                             \
    return total;                                                                 \
}

GRID(f32, float, uint32_t, (uint32_t)1 << 31, 23, 255)
GRID(f64, double, uint64_t, (uint64_t)1 << 63, 52, 2047)

/* --- the Python functions ---------------------------------------------------------------- */

/* Three buffers (the third may be absent), a double and the range [lo, hi), checked. */
typedef struct { Py_buffer view[3]; int taken; double s; Py_ssize_t lo, hi; } Args;

static void release(Args *a)
{
    for (int i = 0; i < a->taken; i++)
        PyBuffer_Release(&a->view[i]);
}

/* The arguments: ``buffers`` arrays, a number if ``scalar`` (walk: s; grid: ulps), then lo and hi. */
static int parse(PyObject *const *args, Py_ssize_t nargs, int buffers, int scalar, Py_ssize_t itemsize, Args *a)
{
    a->taken = 0;
    a->s = 1.0;
    if (nargs != buffers + scalar + 2) {
        PyErr_Format(PyExc_TypeError, "this walk takes %d arguments", buffers + scalar + 2);
        return -1;
    }
    for (int i = 0; i < buffers; i++) {
        if (PyObject_GetBuffer(args[i], &a->view[i], PyBUF_C_CONTIGUOUS) < 0) {
            release(a);
            return -1;
        }
        a->taken++;
    }
    if (scalar && ((a->s = PyFloat_AsDouble(args[buffers])) == -1.0 && PyErr_Occurred())) {
        release(a);
        return -1;
    }
    a->lo = PyLong_AsSsize_t(args[buffers + scalar]);
    a->hi = PyLong_AsSsize_t(args[buffers + scalar + 1]);
    if (PyErr_Occurred()) {
        release(a);
        return -1;
    }
    for (int i = 0; i < buffers; i++) {
        if (a->lo < 0 || a->hi < a->lo || a->view[i].len < a->hi * itemsize) {
            PyErr_SetString(PyExc_ValueError, "the walk's range is outside its arrays");
            release(a);
            return -1;
        }
    }
    return 0;
}

static PyObject *answer(double greatest, const Sums *s)
{
    Py_ssize_t at = s->at == NOT_FOUND ? -1 : (Py_ssize_t)s->at;
    return Py_BuildValue("(ddddn)", s->dd, s->dr, s->rr, greatest, at);
}

#define PYFUNC(PYNAME, WALKER, T, BUFFERS, CALL)                                  \
static PyObject *PYNAME(PyObject *module, PyObject *const *args, Py_ssize_t nargs) \
{                                                                                 \
    Args a;                                                                       \
    Sums sums;                                                                    \
    T greatest;                                                                   \
    (void)module;                                                                 \
    if (parse(args, nargs, BUFFERS, BUFFERS == 2, sizeof(T), &a) < 0)             \
        return NULL;                                                              \
    const T *p0 = a.view[0].buf, *p1 = a.view[1].buf;                             \
    const T *p2 = BUFFERS == 3 ? a.view[2].buf : NULL;                            \
    (void)p2;                                                                     \
    if (a.hi - a.lo >= RELEASE) {                                                 \
        Py_BEGIN_ALLOW_THREADS                                                    \
        greatest = CALL;                                                          \
        Py_END_ALLOW_THREADS                                                      \
    } else {                                                                      \
        greatest = CALL;                                                          \
    }                                                                             \
    release(&a);                                                                  \
    return answer((double)greatest, &sums);                                       \
}

PYFUNC(walk_f32, scaled_f32, float, 2, scaled_f32(p0, p1, (float)a.s, (size_t)a.lo, (size_t)a.hi, &sums))
PYFUNC(walk_f64, scaled_f64, double, 2, scaled_f64(p0, p1, a.s, (size_t)a.lo, (size_t)a.hi, &sums))
PYFUNC(walk_based_f32, based_f32, float, 3, based_f32(p0, p1, p2, (size_t)a.lo, (size_t)a.hi, &sums))
PYFUNC(walk_based_f64, based_f64, double, 3, based_f64(p0, p1, p2, (size_t)a.lo, (size_t)a.hi, &sums))

#define PYGRID(PYNAME, T, CALL)                                                   \
static PyObject *PYNAME(PyObject *module, PyObject *const *args, Py_ssize_t nargs) \
{                                                                                 \
    Args a;                                                                       \
    double total;                                                                 \
    (void)module;                                                                 \
    if (parse(args, nargs, 3, 1, sizeof(T), &a) < 0)                              \
        return NULL;                                                              \
    const T *p0 = a.view[0].buf, *p1 = a.view[1].buf, *p2 = a.view[2].buf;       \
    if (a.hi - a.lo >= RELEASE) {                                                 \
        Py_BEGIN_ALLOW_THREADS                                                    \
        total = CALL;                                                             \
        Py_END_ALLOW_THREADS                                                      \
    } else {                                                                      \
        total = CALL;                                                             \
    }                                                                             \
    release(&a);                                                                  \
    return PyFloat_FromDouble(total);                                             \
}

PYGRID(walk_grid_f32, float, grid_f32(p0, p1, p2, a.s, (size_t)a.lo, (size_t)a.hi))
PYGRID(walk_grid_f64, double, grid_f64(p0, p1, p2, a.s, (size_t)a.lo, (size_t)a.hi))

static PyMethodDef walk_methods[] = {
    {"walk_grid_f32", (PyCFunction)(void (*)(void))walk_grid_f32, METH_FASTCALL,
     "walk_grid_f32(m, t, b, ulps, lo, hi) -> sum of max(|m - t| - ulps spacing(max(|b|, |m|, |t|)), 0)^2"},
    {"walk_grid_f64", (PyCFunction)(void (*)(void))walk_grid_f64, METH_FASTCALL,
     "walk_grid_f64(m, t, b, ulps, lo, hi): walk_grid_f32 in float64"},
    {"walk_f32", (PyCFunction)(void (*)(void))walk_f32, METH_FASTCALL,
     "walk_f32(m, r, s, lo, hi) -> (<d,d>, <d,r>, <r,r>, max |d|, its index or -1), d = m - s r in float32"},
    {"walk_f64", (PyCFunction)(void (*)(void))walk_f64, METH_FASTCALL,
     "walk_f64(m, r, s, lo, hi): walk_f32 in float64"},
    {"walk_based_f32", (PyCFunction)(void (*)(void))walk_based_f32, METH_FASTCALL,
     "walk_based_f32(m, t, b, lo, hi): walk_f32 of m - b against r = t - b, d = (m - b) - (t - b)"},
    {"walk_based_f64", (PyCFunction)(void (*)(void))walk_based_f64, METH_FASTCALL,
     "walk_based_f64(m, t, b, lo, hi): walk_based_f32 in float64"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef walk_module = {
    PyModuleDef_HEAD_INIT, "_walk",
    "The comparison's one-pass walk (comparisons/check/_walk.c), called by fastwalk.py.", -1, walk_methods,
};

PyMODINIT_FUNC PyInit__walk(void)
{
    return PyModule_Create(&walk_module);
}
