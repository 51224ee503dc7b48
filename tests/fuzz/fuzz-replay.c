/* Replays fuzz corpora through a fuzz target's LLVMFuzzerTestOneInput in the normal build, so every
 * corpus file is a regression test: <target>-replay DIR|FILE...  Each folder's files are replayed in
 * name order (dot files skipped). Exits 0 when all inputs ran, 1 on an unreadable input or when none
 * was found. Linked with the target's .c file; the target's own checks are the assertions. */

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "macro.h"
#include "util.h"

/* The largest input any target takes (a BBB getMeetings response); larger files are refused. */
#define REPLAY_INPUT_MAX (16U * 1024U * 1024U)
#define REPLAY_FILES_MAX 10000U

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(int dirfd, const char *name)
{
        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r;

        r = read_full_file_at(dirfd, name, REPLAY_INPUT_MAX, &buf, &size);
        if (r < 0) {
                fprintf(stderr, "Cannot read '%s': %s\n", name, strerror(-r));
                return r;
        }
        (void)LLVMFuzzerTestOneInput((const uint8_t *)buf, size);
        return 0;
}

/* Replays the files of folder path in name order; adds their number to *n. */
static int replay_dir(const char *path, unsigned *n)
{
        _cleanup_close_ int fd = -EBADF;
        struct dirent **names = NULL;
        int k, r = 0;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        k = fd < 0 ? -1 : scandir(path, &names, NULL, alphasort);
        if (k < 0) {
                r = negative_errno();
                fprintf(stderr, "Cannot list '%s': %s\n", path, strerror(-r));
                return r;
        }
        for (int i = 0; i < k; i++) {
                if (r >= 0 && names[i]->d_name[0] != '.' && *n < REPLAY_FILES_MAX) {
                        r = replay_file(fd, names[i]->d_name);
                        if (r >= 0)
                                (*n)++;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv)
{
        unsigned n = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (replay_file(AT_FDCWD, argv[i]) < 0)
                                return 1;
                        n++;
                } else if (replay_dir(argv[i], &n) < 0)
                        return 1;
        }
        printf("%u inputs replayed\n", n);
        return n > 0 ? 0 : 1;
}
