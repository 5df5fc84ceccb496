/*
 * replay.c: runs a fuzz target over corpus files without libFuzzer, so that `make unit` replays each corpus
 * with any compiler and under the sanitizers. Prints "fuzz NAME: N passed, 0 failed" (NAME from the
 * binary's name, fuzz_NAME_replay); a crash or a breached check (abort) fails the run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    size_t nlen;
    int i, done = 0;

    if (strncmp(name, "fuzz_", 5) == 0)
        name += 5;
    nlen = strstr(name, "_replay") ? (size_t) (strstr(name, "_replay") - name) : strlen(name);
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        unsigned char *buf;
        long len;

        if (f == NULL) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t) len + 1);
        if (buf == NULL || fread(buf, 1, (size_t) len, f) != (size_t) len) {
            fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            fclose(f);
            free(buf);
            return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t) len);
        free(buf);
        done++;
    }
    printf("fuzz %.*s: %d passed, 0 failed\n", (int) nlen, name, done);
    return 0;
}
