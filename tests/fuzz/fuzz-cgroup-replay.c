/* Replays a fuzz corpus through LLVMFuzzerTestOneInput with the normal build, so every corpus file is
 * a regression test: fuzz-cgroup-replay DIR|FILE... Exits 0 when all inputs ran, 1 when none was found. */

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "macro.h"
#include "util.h"

#define REPLAY_INPUT_MAX (1024U * 1024U)
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
        LLVMFuzzerTestOneInput((const uint8_t *)buf, size);
        return 0;
}

int main(int argc, char **argv)
{
        unsigned n = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                DIR *d;
                struct dirent *de;

                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (replay_file(AT_FDCWD, argv[i]) < 0)
                                return 1;
                        n++;
                        continue;
                }
                d = opendir(argv[i]);
                if (!d) {
                        perror(argv[i]);
                        return 1;
                }
                while ((de = readdir(d)) && n < REPLAY_FILES_MAX) {
                        if (de->d_name[0] == '.')
                                continue;
                        if (replay_file(dirfd(d), de->d_name) < 0) {
                                closedir(d);
                                return 1;
                        }
                        n++;
                }
                closedir(d);
        }
        printf("%u inputs replayed\n", n);
        return n > 0 ? 0 : 1;
}
