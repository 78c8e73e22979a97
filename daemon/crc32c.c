#include "crc32c.h"

/* Reflected polynomial 0x1EDC6F41. Computed bit by bit per byte through a table built once
 * at compile time would need a generator; eight shifts per byte are fast enough for the
 * spool, which is written only while PostgreSQL is away. */
#define POLY 0x82F63B78u

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (POLY & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}
