/* Runtime CPU dispatch: one level for the whole library, chosen when it loads.
 *
 * The level is the best the CPU (and OS) supports, lowered by the environment
 * variable VTOOL_SIMD=scalar|avx2|avx512 (tests use it to compare paths). A level
 * the CPU lacks is never selected, so an index built anywhere searches anywhere.
 */
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"
#if VT_X86
#include <cpuid.h>
#endif

static int g_level = -1;

int vt_cpu_max_level(void) {
#if VT_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("bmi2")) /* every AVX-512 CPU has it; the wavelet selects use it */
        return VT_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return VT_AVX2;
#endif
    return VT_SCALAR;
}

/* Whether BMI2's pdep is one fast instruction: on every CPU with BMI2 but AMD's before Zen 3
 * (families 15h-18h, and Hygon's), where it is microcode taking hundreds of cycles. */
static int cpu_fast_pdep(void) {
#if VT_X86
    unsigned a, b, c, d;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("bmi2") || !__get_cpuid(0, &a, &b, &c, &d)) return 0;
    if (b != 0x68747541u && b != 0x6f677948u) return 1; /* "Auth"enticAMD, "Hygo"nGenuine */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    unsigned family = (a >> 8) & 0xf;
    return family == 0xf && family + ((a >> 20) & 0xff) >= 0x19;
#else
    return 0;
#endif
}

/* Asked once a process: cpuid traps in a VM (4 % of opening a wavelet reader asked it each time). */
int vt_cpu_fast_pdep(void) {
    static int answer = -1;
    int a = __atomic_load_n(&answer, __ATOMIC_RELAXED);
    if (a < 0) __atomic_store_n(&answer, a = cpu_fast_pdep(), __ATOMIC_RELAXED);
    return a;
}

static int level_from_env(void) {
    const char *s = getenv("VTOOL_SIMD");
    if (!s || !*s) return VT_AVX512;
    if (!strcmp(s, "scalar")) return VT_SCALAR;
    if (!strcmp(s, "avx2")) return VT_AVX2;
    return VT_AVX512;
}

int vt_set_simd_level(int level) {
    int max = vt_cpu_max_level();
    if (level < VT_SCALAR) level = VT_SCALAR;
    g_level = level < max ? level : max;
    return g_level;
}

int vt_simd_level(void) {
    if (g_level < 0) vt_set_simd_level(level_from_env());
    return g_level;
}
