/* See checksum.h. */

#include <openssl/evp.h>

#include "checksum.h"
#include "util.h"

static const EVP_MD *checksum_md(ChecksumAlgo algo)
{
        switch (algo) {
        case CHECKSUM_SHA1:
                return EVP_sha1();
        case CHECKSUM_SHA256:
                return EVP_sha256();
        case CHECKSUM_SHA384:
                return EVP_sha384();
        case CHECKSUM_SHA512:
                return EVP_sha512();
        }
        return NULL;
}

size_t checksum_digest_size(ChecksumAlgo algo)
{
        switch (algo) {
        case CHECKSUM_SHA1:
                return 20;
        case CHECKSUM_SHA256:
                return 32;
        case CHECKSUM_SHA384:
                return 48;
        case CHECKSUM_SHA512:
                return 64;
        }
        return 0;
}

static const char *const checksum_names[] = {
        [CHECKSUM_SHA1] = "sha1",
        [CHECKSUM_SHA256] = "sha256",
        [CHECKSUM_SHA384] = "sha384",
        [CHECKSUM_SHA512] = "sha512",
};

const char *checksum_algo_name(ChecksumAlgo algo)
{
        return (size_t)algo < ELEMENTSOF(checksum_names) ? checksum_names[algo] : NULL;
}

int checksum_algo_from_string(const char *s, ChecksumAlgo *ret)
{
        assert(ret);

        for (size_t i = 0; s && i < ELEMENTSOF(checksum_names); i++)
                if (streq(s, checksum_names[i])) {
                        *ret = (ChecksumAlgo)i;
                        return 0;
                }
        return -EINVAL;
}

static void md_ctx_freep(EVP_MD_CTX **c)
{
        EVP_MD_CTX_free(*c);
}

int checksum_api_hex(ChecksumAlgo algo, const char *call, const char *query, const char *secret,
                     char ret[static CHECKSUM_HEX_MAX + 1])
{
        _cleanup_(md_ctx_freep) EVP_MD_CTX *ctx = NULL;
        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned digest_len = 0;
        const EVP_MD *md;
        size_t lc, lq, ls;

        assert(call);
        assert(secret);
        assert(ret);

        md = checksum_md(algo);
        if (!md)
                return -EINVAL;

        query = strempty(query);
        lc = strlen(call);
        lq = strlen(query);
        ls = strlen(secret);
        if (lc > CHECKSUM_INPUT_MAX || lq > CHECKSUM_INPUT_MAX || ls > CHECKSUM_INPUT_MAX ||
            lc + lq + ls > CHECKSUM_INPUT_MAX)
                return -E2BIG;

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, call, lc) != 1 ||
            EVP_DigestUpdate(ctx, query, lq) != 1 || EVP_DigestUpdate(ctx, secret, ls) != 1 ||
            EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1)
                return -EIO;
        if (digest_len != checksum_digest_size(algo))
                return -EIO;

        hexencode(digest, digest_len, ret);
        OPENSSL_cleanse(digest, sizeof digest);
        return (int)(2 * digest_len);
}
