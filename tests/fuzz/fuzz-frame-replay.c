/* Runs a fuzz target's entry function over every file of the folders (or files) given, so the corpus
 * is a regression test of the normal build. */

#include <dirent.h>
#include <fcntl.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_FILE_MAX (1024 * 1024)

static int replay_file(int dirfd, const char *name)
{
        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r;

        r = read_full_file_at(dirfd, name, REPLAY_FILE_MAX, &buf, &size);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", name, strerror(-r));
                return r;
        }
        (void)LLVMFuzzerTestOneInput((const uint8_t *)buf, size);
        return 0;
}

int main(int argc, char **argv)
{
        unsigned n = 0;

        for (int i = 1; i < argc; i++) {
                DIR *d = opendir(argv[i]);
                struct dirent *de;

                if (!d) {
                        if (errno != ENOTDIR || replay_file(AT_FDCWD, argv[i]) < 0)
                                return 1;
                        n++;
                        continue;
                }
                while ((de = readdir(d))) {
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
        printf("replayed %u inputs\n", n);
        return n > 0 ? 0 : 1;
}
