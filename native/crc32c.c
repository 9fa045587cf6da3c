/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as in iSCSI, ext4 and
 * RocksDB: the checksum of every .vti section. SSE4.2 has an instruction for it;
 * the table-driven loop is the portable reference. vt_crc32c(0, "123456789", 9)
 * is 0xE3069283. */
#include "vtool.h"
#include "internal.h"

static uint32_t table[256];
static int table_ready = 0;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int j = 0; j < 8; j++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        table[i] = c;
    }
    table_ready = 1;
}

static uint32_t crc32c_scalar(uint32_t crc, const uint8_t *p, int64_t n) {
    if (!table_ready) build_table();
    for (int64_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return crc;
}

#if VT_X86
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p,
                                                               int64_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        __builtin_memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}
#endif

uint32_t vt_crc32c(uint32_t crc, const uint8_t *data, int64_t n) {
    crc = ~crc;
#if VT_X86
    if (vt_simd_level() > VT_SCALAR && __builtin_cpu_supports("sse4.2"))
        return ~crc32c_sse42(crc, data, n);
#endif
    return ~crc32c_scalar(crc, data, n);
}
