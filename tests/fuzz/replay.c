/*
 * replay.c: runs a fuzz target over corpus files without libFuzzer, so that `make test` replays the corpus
 * with any compiler and under the sanitizers. Prints "fuzz: N passed, 0 failed"; a crash fails the run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
    int i, done = 0;

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
    printf("fuzz: %d passed, 0 failed\n", done);
    return 0;
}
