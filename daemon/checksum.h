#pragma once
/* BigBlueButton API checksums: the hex digest of (call name + query string + shared secret) with one of
 * the SHA family, through OpenSSL's EVP interface. Pure: buffers in, hex out. */

#include <stddef.h>

#include "macro.h"

#define CHECKSUM_DIGEST_MAX 64                          /* SHA-512 */
#define CHECKSUM_HEX_MAX (2 * CHECKSUM_DIGEST_MAX)      /* hex characters, without the NUL */
#define CHECKSUM_INPUT_MAX (64 * 1024)                  /* call + query + secret, bytes */

/* The [bbb] checksum key's values, in the config file and in --verify. */
typedef enum ChecksumAlgo {
        CHECKSUM_SHA1,
        CHECKSUM_SHA256,
        CHECKSUM_SHA384,
        CHECKSUM_SHA512,
} ChecksumAlgo;

/* Digest size in bytes of algo, or 0 for an unknown value. */
size_t checksum_digest_size(ChecksumAlgo algo);

/* The algorithm's lower-case name ("sha1", ...), or NULL for an unknown value. */
const char *checksum_algo_name(ChecksumAlgo algo);

/* The algorithm named s, exactly as checksum_algo_name() writes it (lower case). Returns 0, or -EINVAL
 * for NULL or any other text. */
int checksum_algo_from_string(const char *s, ChecksumAlgo *ret);

/* Writes hex(hash(call + query + secret)) into ret, which holds CHECKSUM_HEX_MAX + 1 bytes, lower-case,
 * NUL-terminated. query may be empty. Returns the number of hex characters, -EINVAL for an unknown algo,
 * -E2BIG when the inputs together exceed CHECKSUM_INPUT_MAX, -EIO when OpenSSL fails. */
int checksum_api_hex(ChecksumAlgo algo, const char *call, const char *query, const char *secret,
                     char ret[static CHECKSUM_HEX_MAX + 1]);
