#pragma once
/* The agent's spool: every sample not yet acknowledged by the daemon, in order, bounded, in memory and
 * in an append-only file so that an agent restart loses nothing.
 *
 * Samples are kept packed (a protobuf Sample message, about 150 bytes) with their sequence number and
 * timestamp. When the spool is full (max_samples or max_bytes) the oldest samples are dropped and
 * counted. The file is a header and a series of checksummed records (docs/wire.md): a SAMPLE record per
 * sample appended, a CUT record when acknowledged samples leave the front. On open it is replayed; a
 * torn record at the tail (a crash in the middle of a write) is cut off, losing only that record. When
 * most of the file is dead (acknowledged or dropped), it is rewritten atomically. Sequence numbers are
 * remembered across restarts, even when every sample has been acknowledged. */

#include "macro.h"

#define SPOOL_MAX_SAMPLES_DEFAULT 86400u            /* a day at the default 1 s interval */
#define SPOOL_MAX_BYTES_DEFAULT (64u * 1024 * 1024) /* bound of the memory held by packed samples */
#define SPOOL_MAX_SAMPLES_LIMIT 10000000u
#define SPOOL_RECORD_MAX (64u * 1024)    /* largest packed sample accepted */
#define SPOOL_COMPACT_MIN (1024u * 1024) /* the file is not rewritten below this size */

typedef struct Spool Spool;

typedef struct SpoolEntry {
        uint64_t seq;
        int64_t time_ms;
        const uint8_t *data; /* packed Sample, owned by the spool, valid until the entry leaves */
        size_t size;
} SpoolEntry;

/* Opens (creating it when missing) the spool file at path and loads the samples it holds, keeping the
 * newest that fit the bounds. path NULL gives a memory-only spool. A second process cannot open the
 * same spool (-EBUSY). A file that is not a spool is -EBADMSG (left alone). max_samples 0 and max_bytes
 * 0 mean the defaults. */
int spool_open(const char *path, size_t max_samples, size_t max_bytes, Spool **ret);

/* Closes the file (flushing it to disk first) and frees everything. Takes NULL. */
Spool *spool_free(Spool *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Spool *, spool_free)

/* Appends a copy of one packed sample. seq must be above spool_last_seq() (-EINVAL otherwise), size at
 * most SPOOL_RECORD_MAX (-EMSGSIZE). Drops the oldest samples when the bounds require it. Returns 0;
 * -ENOMEM (nothing changed); or the -errno of writing the file, in which case the sample is kept in
 * memory all the same (the file stays consistent: a partial record is cut off again). */
int spool_append(Spool *s, uint64_t seq, int64_t time_ms, const void *data, size_t size);

/* Removes the samples at the front acknowledged by the daemon: those with seq <= up_to_seq. Never by
 * time: a clock that ran ahead would make a time cover samples never sent. Returns how many left, or
 * the -errno of writing the file (they are removed from memory all the same). */
int spool_ack(Spool *s, uint64_t up_to_seq);

/* Raises the last sequence number used (the daemon reported a newer one), so the next sample is above
 * it. Returns 0 or the -errno of writing the file. */
int spool_bump_seq(Spool *s, uint64_t seq);

/* Makes the file durable (fdatasync) if anything was written since the last call. Returns 0 or -errno. */
int spool_sync(Spool *s);

size_t spool_count(const Spool *s);
size_t spool_bytes(const Spool *s);      /* packed bytes held in memory */
uint64_t spool_dropped(const Spool *s);  /* samples dropped because the spool was full (this process) */
uint64_t spool_last_seq(const Spool *s); /* highest sequence number ever appended or bumped to */
/* The spool's stream id: random and nonzero, made with the spool file (or at the first open by this
 * version) and kept in it; with the sequence number it names each sample for the daemon. A memory-only
 * spool gets a new one each time. */
uint64_t spool_stream(const Spool *s);
uint64_t spool_file_size(const Spool *s);
unsigned spool_compactions(const Spool *s);
uint64_t spool_torn_bytes(const Spool *s); /* cut off the tail of the file when it was opened */

/* The i-th sample from the oldest; i < spool_count(). */
void spool_get(const Spool *s, size_t i, SpoolEntry *ret);

/* Index of the first sample with a sequence number above seq (spool_count() when none). */
size_t spool_find_after(const Spool *s, uint64_t seq);
