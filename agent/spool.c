/* The bounded spool of unacknowledged samples. See spool.h; the file format is in docs/wire.md.
 *
 * Memory: a ring of items, each a malloc'd copy of one packed sample, grown by doubling up to
 * max_samples. File: "SMSPOOL1", then records of [u32 body size][u32 CRC-32C of body][body], little
 * endian; body = u8 type + fields:
 *   SAMPLE (1): u64 seq, i64 time_ms, packed Sample
 *   CUT    (2): u64 cut_seq (every sample up to it has left the spool), u64 last_seq
 *   STREAM (3): u64 stream id (random, nonzero; written when the file is created or first opened by an
 *               agent that knows streams, and again at each rewrite)
 * Dropping the oldest samples when full is not written down: replaying applies the same bounds and
 * drops the same samples again. */

#include <endian.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "spool.h"
#include "util.h"

#define SPOOL_MAGIC "SMSPOOL1"
#define SPOOL_MAGIC_SIZE 8
#define REC_HEADER 8
#define REC_SAMPLE 1
#define REC_CUT 2
#define REC_STREAM 3
#define REC_STREAM_SIZE (1 + 8)
#define REC_SAMPLE_FIXED (1 + 8 + 8)
#define REC_CUT_SIZE (1 + 8 + 8)
#define REC_BODY_MAX (REC_SAMPLE_FIXED + SPOOL_RECORD_MAX)
#define COMPACT_BUFFER (128 * 1024) /* holds the largest record */

typedef struct Item {
        uint64_t seq;
        int64_t time_ms;
        uint8_t *data;
        size_t size;
} Item;

struct Spool {
        Item *items;
        size_t alloc, head, count;
        size_t max_samples, max_bytes;
        size_t bytes;

        uint64_t dropped;
        uint64_t last_seq;
        uint64_t cut_seq;
        uint64_t stream;

        char *path;
        int fd, lock_fd;
        uint64_t file_size;
        uint64_t live_file_bytes; /* bytes of the SAMPLE records of the items held */
        uint64_t torn_bytes;
        bool dirty;
        unsigned compactions;
        uint64_t compact_retry_size; /* after a failed rewrite, wait until the file is this large */
        /* While replaying: sequence numbers dropped to fit, so that those acknowledged later in the
         * file are not counted as lost. */
        bool replaying;
        uint64_t *replay_dropped;
        size_t replay_n, replay_head, replay_alloc;
        uint8_t *scratch; /* one record being assembled, REC_HEADER + REC_BODY_MAX */
};

/* CRC-32C (Castagnoli), reflected, bitwise table. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
        static uint32_t table[256];
        static bool ready;
        uint32_t c = 0xffffffffu;

        if (!ready) {
                for (uint32_t i = 0; i < 256; i++) {
                        uint32_t v = i;
                        for (int k = 0; k < 8; k++)
                                v = (v & 1) ? (v >> 1) ^ 0x82f63b78u : v >> 1;
                        table[i] = v;
                }
                ready = true;
        }
        while (n-- > 0)
                c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
        return c ^ 0xffffffffu;
}

static void put_u32(uint8_t *p, uint32_t v)
{
        v = htole32(v);
        memcpy(p, &v, 4);
}

static void put_u64(uint8_t *p, uint64_t v)
{
        v = htole64(v);
        memcpy(p, &v, 8);
}

static uint32_t get_u32(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, 4);
        return le32toh(v);
}

static uint64_t get_u64(const uint8_t *p)
{
        uint64_t v;
        memcpy(&v, p, 8);
        return le64toh(v);
}

static uint64_t sample_record_size(size_t payload)
{
        return REC_HEADER + REC_SAMPLE_FIXED + payload;
}

static Item *item_at(const Spool *s, size_t i)
{
        return &s->items[(s->head + i) % s->alloc];
}

size_t spool_count(const Spool *s)
{
        return s->count;
}

size_t spool_bytes(const Spool *s)
{
        return s->bytes;
}

uint64_t spool_dropped(const Spool *s)
{
        return s->dropped;
}

uint64_t spool_stream(const Spool *s)
{
        return s->stream;
}

uint64_t spool_last_seq(const Spool *s)
{
        return s->last_seq;
}

uint64_t spool_file_size(const Spool *s)
{
        return s->file_size;
}

unsigned spool_compactions(const Spool *s)
{
        return s->compactions;
}

void spool_get(const Spool *s, size_t i, SpoolEntry *ret)
{
        const Item *it;

        assert(s);
        assert(i < s->count);
        assert(ret);

        it = item_at(s, i);
        *ret = (SpoolEntry){.seq = it->seq, .time_ms = it->time_ms, .data = it->data, .size = it->size};
}

size_t spool_find_after(const Spool *s, uint64_t seq)
{
        size_t lo = 0, hi = s->count;

        /* Sequence numbers increase along the ring: binary search. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (item_at(s, mid)->seq <= seq)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static void drop_front(Spool *s)
{
        Item *it = item_at(s, 0);

        assert(s->count > 0);
        s->bytes -= it->size;
        s->live_file_bytes -= sample_record_size(it->size);
        free(it->data);
        it->data = NULL;
        s->head = (s->head + 1) % s->alloc;
        s->count--;
        if (s->count == 0)
                s->head = 0;
}

/* Makes room for one more item. Returns 0 or -ENOMEM (nothing changed). */
static int ensure_capacity(Spool *s)
{
        size_t n;
        Item *p;

        if (s->count < s->alloc)
                return 0;
        n = MIN(MAX((size_t)16, s->alloc * 2), s->max_samples);
        if (n <= s->count)
                return 0; /* full: the caller drops first */
        p = calloc(n, sizeof(Item));
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < s->count; i++)
                p[i] = *item_at(s, i);
        free(s->items);
        s->items = p;
        s->alloc = n;
        s->head = 0;
        return 0;
}

static void note_replay_drop(Spool *s, uint64_t seq)
{
        if (GREEDY_REALLOC(s->replay_dropped, s->replay_alloc, s->replay_n + 1) < 0)
                return; /* only the count at load suffers */
        s->replay_dropped[s->replay_n++] = seq;
}

/* Takes ownership of data. Drops the oldest items the bounds require. Returns 0 or -ENOMEM (then data
 * is still the caller's). */
static int push(Spool *s, uint64_t seq, int64_t time_ms, uint8_t *data, size_t size)
{
        int r;

        r = ensure_capacity(s);
        if (r < 0)
                return r;
        while (s->count > 0 && (s->count >= s->max_samples || s->bytes + size > s->max_bytes)) {
                if (s->replaying)
                        note_replay_drop(s, item_at(s, 0)->seq);
                drop_front(s);
                s->dropped++;
        }
        if (s->alloc == 0) {
                r = ensure_capacity(s);
                if (r < 0)
                        return r;
        }
        *item_at(s, s->count) = (Item){.seq = seq, .time_ms = time_ms, .data = data, .size = size};
        s->count++;
        s->bytes += size;
        s->live_file_bytes += sample_record_size(size);
        if (seq > s->last_seq)
                s->last_seq = seq;
        return 0;
}

/* Writes all of buf to fd. */
static int write_all(int fd, const uint8_t *buf, size_t size)
{
        while (size > 0) {
                ssize_t n = write(fd, buf, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;
                buf += n;
                size -= (size_t)n;
        }
        return 0;
}

/* Appends one record (header + fixed part + payload), assembled in the scratch buffer. On failure the
 * file is cut back to where it was, so a half-written record never sits in the middle. */
static int write_record(Spool *s, const uint8_t *fixed, size_t fixed_size, const void *payload,
                        size_t payload_size)
{
        size_t body = fixed_size + payload_size;
        int r;

        if (s->fd < 0)
                return 0;
        assert(body <= REC_BODY_MAX);

        memcpy(s->scratch + REC_HEADER, fixed, fixed_size);
        if (payload_size > 0)
                memcpy(s->scratch + REC_HEADER + fixed_size, payload, payload_size);
        put_u32(s->scratch, (uint32_t)body);
        put_u32(s->scratch + 4, crc32c(s->scratch + REC_HEADER, body));
        r = write_all(s->fd, s->scratch, REC_HEADER + body);
        if (r < 0) {
                (void)ftruncate(s->fd, (off_t)s->file_size);
                return r;
        }
        s->file_size += REC_HEADER + body;
        s->dirty = true;
        return 0;
}

static int write_cut(Spool *s)
{
        uint8_t body[REC_CUT_SIZE];

        body[0] = REC_CUT;
        put_u64(body + 1, s->cut_seq);
        put_u64(body + 9, s->last_seq);
        return write_record(s, body, sizeof(body), NULL, 0);
}

static int write_stream(Spool *s)
{
        uint8_t body[REC_STREAM_SIZE];

        body[0] = REC_STREAM;
        put_u64(body + 1, s->stream);
        return write_record(s, body, sizeof(body), NULL, 0);
}

static int fsync_parent(const char *path)
{
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int dfd = -EBADF;

        if (!copy)
                return -ENOMEM;
        dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        return RET_NERRNO(fsync(dfd));
}

/* Rewrites the file with only what is live: magic, a CUT record carrying the sequence numbers, the
 * held samples. Atomic: a temporary file, fsync, rename, fsync of the folder. */
static int compact(Spool *s)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t used = 0;
        uint64_t size = 0;
        int r;

        if (!s->path)
                return 0;
        if (asprintf(&tmp, "%s.tmp", s->path) < 0)
                return -ENOMEM;
        buf = malloc(COMPACT_BUFFER);
        if (!buf)
                return -ENOMEM;
        fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();

        memcpy(buf, SPOOL_MAGIC, SPOOL_MAGIC_SIZE);
        used = SPOOL_MAGIC_SIZE;
        {
                uint8_t *p = buf + used;
                p[REC_HEADER] = REC_STREAM;
                put_u64(p + REC_HEADER + 1, s->stream);
                put_u32(p, REC_STREAM_SIZE);
                put_u32(p + 4, crc32c(p + REC_HEADER, REC_STREAM_SIZE));
                used += REC_HEADER + REC_STREAM_SIZE;
        }
        {
                uint8_t *p = buf + used;
                p[REC_HEADER] = REC_CUT;
                put_u64(p + REC_HEADER + 1, s->cut_seq);
                put_u64(p + REC_HEADER + 9, s->last_seq);
                put_u32(p, REC_CUT_SIZE);
                put_u32(p + 4, crc32c(p + REC_HEADER, REC_CUT_SIZE));
                used += REC_HEADER + REC_CUT_SIZE;
        }
        for (size_t i = 0; i < s->count; i++) {
                const Item *it = item_at(s, i);
                size_t rec = (size_t)sample_record_size(it->size);
                uint8_t *p;

                if (COMPACT_BUFFER - used < rec) {
                        r = write_all(fd, buf, used);
                        if (r < 0)
                                goto fail;
                        size += used;
                        used = 0;
                }
                /* A record is at most REC_HEADER + REC_BODY_MAX, which fits the buffer once flushed. */
                p = buf + used;
                p[REC_HEADER] = REC_SAMPLE;
                put_u64(p + REC_HEADER + 1, it->seq);
                put_u64(p + REC_HEADER + 9, (uint64_t)it->time_ms);
                memcpy(p + REC_HEADER + REC_SAMPLE_FIXED, it->data, it->size);
                put_u32(p, (uint32_t)(REC_SAMPLE_FIXED + it->size));
                put_u32(p + 4, crc32c(p + REC_HEADER, REC_SAMPLE_FIXED + it->size));
                used += rec;
        }
        r = write_all(fd, buf, used);
        if (r < 0)
                goto fail;
        size += used;
        if (fsync(fd) < 0 || rename(tmp, s->path) < 0) {
                r = negative_errno();
                goto fail;
        }
        (void)fsync_parent(s->path);

        safe_close(s->fd);
        s->fd = TAKE_FD(fd);
        s->file_size = size;
        s->dirty = false;
        s->compactions++;
        return 0;

fail:
        (void)unlink(tmp);
        return r;
}

static int maybe_compact(Spool *s)
{
        uint64_t dead;
        int r;

        if (s->fd < 0 || s->file_size < SPOOL_COMPACT_MIN || s->file_size < s->compact_retry_size)
                return 0;
        dead = s->file_size - SPOOL_MAGIC_SIZE - MIN(s->live_file_bytes, s->file_size - SPOOL_MAGIC_SIZE);
        if (dead <= s->live_file_bytes)
                return 0;
        r = compact(s);
        if (r < 0)
                /* Disk full or similar: appending still works, so try again only after another MiB. */
                s->compact_retry_size = s->file_size + SPOOL_COMPACT_MIN;
        return r;
}

int spool_append(Spool *s, uint64_t seq, int64_t time_ms, const void *data, size_t size)
{
        _cleanup_free_ uint8_t *copy = NULL;
        uint8_t fixed[REC_SAMPLE_FIXED];
        int r;

        assert(s);
        assert(data || size == 0);

        if (seq <= s->last_seq)
                return -EINVAL;
        if (size > SPOOL_RECORD_MAX)
                return -EMSGSIZE;
        copy = malloc(MAX(size, (size_t)1));
        if (!copy)
                return -ENOMEM;
        if (size > 0)
                memcpy(copy, data, size);
        r = push(s, seq, time_ms, copy, size);
        if (r < 0)
                return r;
        TAKE_PTR(copy);

        fixed[0] = REC_SAMPLE;
        put_u64(fixed + 1, seq);
        put_u64(fixed + 9, (uint64_t)time_ms);
        r = write_record(s, fixed, sizeof(fixed), data, size);
        if (r < 0)
                return r;
        return maybe_compact(s);
}

int spool_ack(Spool *s, uint64_t up_to_seq)
{
        int removed = 0, r;

        assert(s);

        while (s->count > 0) {
                const Item *it = item_at(s, 0);

                if (it->seq > up_to_seq)
                        break;
                s->cut_seq = it->seq;
                drop_front(s);
                removed++;
        }
        if (removed == 0)
                return 0;
        r = write_cut(s);
        if (r < 0)
                return r;
        r = maybe_compact(s);
        if (r < 0)
                return r;
        return removed;
}

int spool_bump_seq(Spool *s, uint64_t seq)
{
        assert(s);

        if (seq <= s->last_seq)
                return 0;
        s->last_seq = seq;
        return write_cut(s);
}

int spool_sync(Spool *s)
{
        assert(s);

        if (s->fd < 0 || !s->dirty)
                return 0;
        if (fdatasync(s->fd) < 0)
                return negative_errno();
        s->dirty = false;
        return 0;
}

/* Replays the records from offset SPOOL_MAGIC_SIZE. Stops at the first record that is short, too large
 * or fails its checksum, and cuts the file there. */
static int replay(Spool *s, uint64_t file_size)
{
        _cleanup_free_ uint8_t *body = NULL;
        uint64_t off = SPOOL_MAGIC_SIZE;
        int r;

        body = malloc(REC_BODY_MAX);
        if (!body)
                return -ENOMEM;

        while (off + REC_HEADER <= file_size) {
                uint8_t header[REC_HEADER];
                uint32_t len;
                ssize_t n;

                n = pread(s->fd, header, REC_HEADER, (off_t)off);
                if (n < 0)
                        return negative_errno();
                if (n != REC_HEADER)
                        break;
                len = get_u32(header);
                if (len == 0 || len > REC_BODY_MAX || off + REC_HEADER + len > file_size)
                        break;
                n = pread(s->fd, body, len, (off_t)(off + REC_HEADER));
                if (n < 0)
                        return negative_errno();
                if ((size_t)n != len || crc32c(body, len) != get_u32(header + 4))
                        break;

                if (body[0] == REC_SAMPLE && len >= REC_SAMPLE_FIXED) {
                        uint64_t seq = get_u64(body + 1);
                        int64_t time_ms = (int64_t)get_u64(body + 9);
                        size_t size = len - REC_SAMPLE_FIXED;

                        /* Sequence numbers only grow in a file this code wrote; skip what does not. */
                        if (seq > s->last_seq && seq > s->cut_seq) {
                                uint8_t *copy = malloc(MAX(size, (size_t)1));
                                if (!copy)
                                        return -ENOMEM;
                                memcpy(copy, body + REC_SAMPLE_FIXED, size);
                                r = push(s, seq, time_ms, copy, size);
                                if (r < 0) {
                                        free(copy);
                                        return r;
                                }
                        }
                } else if (body[0] == REC_CUT && len == REC_CUT_SIZE) {
                        uint64_t cut = get_u64(body + 1), last = get_u64(body + 9);

                        while (s->count > 0 && item_at(s, 0)->seq <= cut)
                                drop_front(s);
                        while (s->replay_head < s->replay_n && s->replay_dropped[s->replay_head] <= cut)
                                s->replay_head++;
                        s->cut_seq = MAX(s->cut_seq, cut);
                        s->last_seq = MAX(s->last_seq, MAX(last, cut));
                } else if (body[0] == REC_STREAM && len == REC_STREAM_SIZE && get_u64(body + 1) != 0)
                        s->stream = get_u64(body + 1);
                /* Unknown record types are skipped: a newer agent may write more kinds. */
                off += REC_HEADER + len;
        }

        s->file_size = off;
        if (off < file_size) {
                s->torn_bytes = file_size - off;
                if (ftruncate(s->fd, (off_t)off) < 0)
                        return negative_errno();
                s->dirty = true;
        }
        return 0;
}

static int open_file(Spool *s)
{
        _cleanup_free_ char *lock_path = NULL;
        struct stat st;
        int r;

        if (asprintf(&lock_path, "%s.lock", s->path) < 0)
                return -ENOMEM;
        s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->lock_fd < 0)
                return negative_errno();
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : negative_errno();

        s->fd = open(s->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->fd < 0)
                return negative_errno();
        if (fstat(s->fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;

        if (st.st_size < SPOOL_MAGIC_SIZE) {
                char head[SPOOL_MAGIC_SIZE];
                ssize_t n = pread(s->fd, head, SPOOL_MAGIC_SIZE, 0);

                /* Empty, or torn while the header was written: start afresh. Anything else is not ours. */
                if (n < 0)
                        return negative_errno();
                if (memcmp(head, SPOOL_MAGIC, (size_t)n) != 0)
                        return -EBADMSG;
                if (ftruncate(s->fd, 0) < 0)
                        return negative_errno();
                r = write_all(s->fd, (const uint8_t *)SPOOL_MAGIC, SPOOL_MAGIC_SIZE);
                if (r < 0)
                        return r;
                if (fsync(s->fd) < 0)
                        return negative_errno();
                (void)fsync_parent(s->path);
                s->file_size = SPOOL_MAGIC_SIZE;
                return 0;
        } else {
                char head[SPOOL_MAGIC_SIZE];
                ssize_t n = pread(s->fd, head, SPOOL_MAGIC_SIZE, 0);

                if (n < 0)
                        return negative_errno();
                if (n != SPOOL_MAGIC_SIZE || memcmp(head, SPOOL_MAGIC, SPOOL_MAGIC_SIZE) != 0)
                        return -EBADMSG;
        }

        s->replaying = true;
        r = replay(s, (uint64_t)st.st_size);
        s->replaying = false;
        if (s->replay_dropped)
                s->dropped = s->replay_n - s->replay_head;
        free(s->replay_dropped);
        s->replay_dropped = NULL;
        if (r < 0)
                return r;
        return maybe_compact(s);
}

static int random_stream(uint64_t *ret)
{
        uint64_t v = 0;

        while (v == 0) {
                ssize_t n = getrandom(&v, sizeof v, 0);
                if (n < 0 && errno != EINTR)
                        return negative_errno();
                if (n >= 0 && n != (ssize_t)sizeof v)
                        return -EIO;
        }
        *ret = v;
        return 0;
}

int spool_open(const char *path, size_t max_samples, size_t max_bytes, Spool **ret)
{
        _cleanup_(spool_freep) Spool *s = NULL;
        int r;

        assert(ret);

        if (max_samples == 0)
                max_samples = SPOOL_MAX_SAMPLES_DEFAULT;
        if (max_bytes == 0)
                max_bytes = SPOOL_MAX_BYTES_DEFAULT;
        if (max_samples > SPOOL_MAX_SAMPLES_LIMIT || max_bytes < SPOOL_RECORD_MAX)
                return -ERANGE;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->fd = s->lock_fd = -EBADF;
        s->max_samples = max_samples;
        s->max_bytes = max_bytes;
        if (path) {
                s->scratch = malloc(REC_HEADER + REC_BODY_MAX);
                if (!s->scratch)
                        return -ENOMEM;
                s->path = strdup(path);
                if (!s->path)
                        return -ENOMEM;
                r = open_file(s);
                if (r < 0)
                        return r;
        }
        if (s->stream == 0) {
                /* A new spool, or one written before streams: a stream of its own from now on. */
                r = random_stream(&s->stream);
                if (r < 0)
                        return r;
                r = write_stream(s);
                if (r >= 0)
                        r = spool_sync(s);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

uint64_t spool_torn_bytes(const Spool *s)
{
        return s->torn_bytes;
}

Spool *spool_free(Spool *s)
{
        if (!s)
                return NULL;
        (void)spool_sync(s);
        for (size_t i = 0; i < s->count; i++)
                free(item_at(s, i)->data);
        free(s->items);
        free(s->scratch);
        safe_close(s->fd);
        safe_close(s->lock_fd); /* releases the lock */
        free(s->path);
        free(s);
        return NULL;
}
