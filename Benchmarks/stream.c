/* A STREAM-like read for Benchmarks/run.py: THREADS threads each sum their own slice of a buffer of
 * MIB mebibytes PASSES times (8 independent accumulators, so that the adds do not bound the loop),
 * and the program prints the bytes read, the process's CPU seconds (every thread) and the wall
 * seconds as JSON. Bytes per CPU-second is the figure a shared machine's load does not inflate.
 *
 *     cc -O2 -pthread Benchmarks/stream.c -o stream && ./stream MIB THREADS PASSES
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double *buffer;
static size_t count, passes, threads;

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *reader(void *argument) {
    size_t part = (size_t)argument, lo = part * count / threads, hi = (part + 1) * count / threads;
    double a[8] = {0};
    for (size_t pass = 0; pass < passes; ++pass)
        for (size_t i = lo; i + 8 <= hi; i += 8)
            for (int k = 0; k < 8; ++k) a[k] += buffer[i + k];
    double *sum = malloc(sizeof(double));
    *sum = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    return sum;
}

int main(int argc, char **argv) {
    if (argc != 4) return fprintf(stderr, "usage: stream MIB THREADS PASSES\n"), 2;
    size_t mib = strtoul(argv[1], 0, 10);
    threads = strtoul(argv[2], 0, 10);
    passes = strtoul(argv[3], 0, 10);
    if (mib < 1 || mib > 4096 || threads < 1 || threads > 64 || passes < 1 || passes > 1000)
        return fprintf(stderr, "stream: MIB in 1…4096, THREADS in 1…64, PASSES in 1…1000\n"), 2;
    count = mib << 17; /* doubles */
    buffer = malloc(count * sizeof(double));
    if (!buffer) return fprintf(stderr, "stream: cannot allocate %zu MiB\n", mib), 1;
    for (size_t i = 0; i < count; ++i) buffer[i] = (double)(i & 1023);
    pthread_t ids[64];
    double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID), wall = seconds(CLOCK_MONOTONIC), total = 0;
    for (size_t t = 0; t < threads; ++t) pthread_create(&ids[t], 0, reader, (void *)t);
    for (size_t t = 0; t < threads; ++t) {
        void *sum;
        pthread_join(ids[t], &sum);
        total += *(double *)sum;
        free(sum);
    }
    cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    wall = seconds(CLOCK_MONOTONIC) - wall;
    /* Each slice is a whole number of 1024-element periods when count/threads is, which MIB ≥ 1 and THREADS a power of 2 give. */
    double expected = (double)passes * (double)(count / 1024) * 1023.0 * 1024.0 / 2.0;
    if (total != expected) return fprintf(stderr, "stream: sum %.17g, expected %.17g\n", total, expected), 1;
    printf("{\"bytes\": %.0f, \"cpu_seconds\": %.9f, \"wall_seconds\": %.9f, \"threads\": %zu}\n",
           (double)passes * (double)count * sizeof(double), cpu, wall, threads);
    return 0;
}
