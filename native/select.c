/* The table of the in-word select (bits.h, vt_select64): entry 256 k + b is the position of
 * the k-th (0-based) set bit of byte b, 8 when b has no k-th. A constant, so no code fills it
 * and no thread can see it half made: the number of prefixes of b (bits 0..i) holding at most
 * k set bits is that position. */
#include <stdint.h>
#include "bits.h"

#define POP8(x) (((x) & 1) + ((x) >> 1 & 1) + ((x) >> 2 & 1) + ((x) >> 3 & 1) + ((x) >> 4 & 1) + ((x) >> 5 & 1) + \
                 ((x) >> 6 & 1) + ((x) >> 7 & 1))
#define UPTO(b, i, k) (POP8((b) & ((2 << (i)) - 1)) <= (k))
#define ENTRY(k, b) (UPTO(b, 0, k) + UPTO(b, 1, k) + UPTO(b, 2, k) + UPTO(b, 3, k) + UPTO(b, 4, k) + UPTO(b, 5, k) + \
                     UPTO(b, 6, k) + UPTO(b, 7, k))
#define X4(k, b) ENTRY(k, b), ENTRY(k, (b) + 1), ENTRY(k, (b) + 2), ENTRY(k, (b) + 3)
#define X16(k, b) X4(k, b), X4(k, (b) + 4), X4(k, (b) + 8), X4(k, (b) + 12)
#define X64(k, b) X16(k, b), X16(k, (b) + 16), X16(k, (b) + 32), X16(k, (b) + 48)
#define X256(k) X64(k, 0), X64(k, 64), X64(k, 128), X64(k, 192)

const uint8_t vt_select_in_byte[2048] = {X256(0), X256(1), X256(2), X256(3), X256(4), X256(5), X256(6), X256(7)};
