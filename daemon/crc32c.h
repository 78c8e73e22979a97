/*
 * CRC-32C (Castagnoli), the checksum of each spool record: it catches a torn or corrupt
 * write, and is what iSCSI, ext4 and PostgreSQL's WAL use for the same job.
 */
#ifndef TOUCHLINED_CRC32C_H
#define TOUCHLINED_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of len bytes at data, continuing from crc (0 to start). */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
