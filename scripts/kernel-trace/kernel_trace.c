/*
 * A CUPTI injection library that records every kernel a CUDA program runs: its name, start and
 * end on the GPU (nanoseconds), stream, device and correlation id, written as CSV at exit.
 *
 * Load it with CUDA_INJECTION64_PATH=/path/to/libkernel_trace.so; the CUDA driver then calls
 * InitializeInjection() during cuInit. KERNEL_TRACE_CSV names the output file (default
 * kernels.csv). Only the activity API is used (CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL): kernels
 * are timed as they run, with no replay and no serialisation. The records are copied out of
 * CUPTI's buffers as they complete and written once, at exit, so the trace adds no file I/O to
 * the timed work.
 *
 * Built by scripts/kernel-crosscheck.sh build.
 */
#include <cupti.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#define BUFFER_SIZE (8u << 20)
#define ALIGNMENT 8

typedef struct {
    uint64_t start, end;
    uint32_t stream, device, correlation;
    const char *name; /* interned */
} KernelRecord;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static KernelRecord *records;
static size_t n_records, cap_records;
static uint64_t dropped;
static char **names;
static size_t n_names, cap_names;
static int finished;

static void check(CUptiResult r, const char *what) {
    if (r != CUPTI_SUCCESS) {
        const char *msg = NULL;
        cuptiGetResultString(r, &msg);
        fprintf(stderr, "kernel_trace: %s failed: %s\n", what, msg ? msg : "?");
    }
}

/* Kernel names repeat: keep one copy of each (a linear probe over a small table). */
static const char *intern(const char *name) {
    if (!name) name = "?";
    for (size_t i = n_names; i-- > 0;)
        if (strcmp(names[i], name) == 0) return names[i];
    if (n_names == cap_names) {
        cap_names = cap_names ? 2 * cap_names : 1024;
        names = realloc(names, cap_names * sizeof *names);
        if (!names) abort();
    }
    names[n_names] = strdup(name);
    return names[n_names++];
}

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records) {
    uint8_t *b = aligned_alloc(ALIGNMENT, BUFFER_SIZE);
    if (!b) abort();
    *buffer = b;
    *size = BUFFER_SIZE;
    *max_records = 0;
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size, size_t valid) {
    (void)ctx;
    (void)stream;
    (void)size;
    CUpti_Activity *record = NULL;
    pthread_mutex_lock(&lock);
    for (;;) {
        CUptiResult r = cuptiActivityGetNextRecord(buffer, valid, &record);
        if (r != CUPTI_SUCCESS) break;
        if (record->kind != CUPTI_ACTIVITY_KIND_KERNEL && record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) continue;
        CUpti_ActivityKernel10 *k = (CUpti_ActivityKernel10 *)record;
        if (n_records == cap_records) {
            cap_records = cap_records ? 2 * cap_records : 65536;
            records = realloc(records, cap_records * sizeof *records);
            if (!records) abort();
        }
        records[n_records++] = (KernelRecord){k->start, k->end, k->streamId, k->deviceId, k->correlationId, intern(k->name)};
    }
    size_t d = 0;
    if (cuptiActivityGetNumDroppedRecords(NULL, 0, &d) == CUPTI_SUCCESS) dropped += d;
    pthread_mutex_unlock(&lock);
    free(buffer);
}

/* CSV field: quoted, with quotes doubled (kernel names hold commas and angle brackets). */
static void put_name(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void at_exit(void) {
    check(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "cuptiActivityFlushAll");
    pthread_mutex_lock(&lock);
    if (finished) {
        pthread_mutex_unlock(&lock);
        return;
    }
    finished = 1;
    const char *path = getenv("KERNEL_TRACE_CSV");
    if (!path || !*path) path = "kernels.csv";
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        pthread_mutex_unlock(&lock);
        return;
    }
    fprintf(f, "start_ns,end_ns,stream,device,correlation,name\n");
    for (size_t i = 0; i < n_records; i++) {
        const KernelRecord *r = &records[i];
        fprintf(f, "%llu,%llu,%u,%u,%u,", (unsigned long long)r->start, (unsigned long long)r->end, r->stream, r->device, r->correlation);
        put_name(f, r->name);
        fputc('\n', f);
    }
    fclose(f);
    fprintf(stderr, "kernel_trace: %zu kernels (%zu distinct names, %llu records dropped) written to %s\n", n_records, n_names,
            (unsigned long long)dropped, path);
    pthread_mutex_unlock(&lock);
}

int InitializeInjection(void) {
    check(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed), "cuptiActivityRegisterCallbacks");
    check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "cuptiActivityEnable(CONCURRENT_KERNEL)");
    atexit(at_exit);
    return 1;
}
