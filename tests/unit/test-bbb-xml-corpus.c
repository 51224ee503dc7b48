/* Replays the fuzz corpus of the getMeetings parser (tests/fuzz/fuzz-bbb-xml-corpus/) through the fuzz
 * entry function, so every input that once found a bug keeps being checked in the normal build. */

#include <dirent.h>
#include <fcntl.h>

#include "tests/fuzz/fuzz-bbb-xml.h"
#include "util.h"

#define BBB_CORPUS_FILE_MAX (16 * 1024 * 1024)

int main(int argc, char **argv)
{
        struct dirent **names = NULL;
        unsigned done = 0;
        int n;

        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
                return 2;
        }
        n = scandir(argv[1], &names, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *data = NULL;
                size_t size = 0;
                int r;

                if (names[i]->d_name[0] != '.') {
                        if (asprintf(&path, "%s/%s", argv[1], names[i]->d_name) < 0)
                                return 1;
                        r = read_full_file_at(AT_FDCWD, path, BBB_CORPUS_FILE_MAX, &data, &size);
                        if (r < 0) {
                                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                                return 1;
                        }
                        (void)LLVMFuzzerTestOneInput((const uint8_t *)data, size);
                        done++;
                }
                free(names[i]);
        }
        free(names);
        printf("%u corpus files replayed\n", done);
        return done > 0 ? 0 : 1;
}
