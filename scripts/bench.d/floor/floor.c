/* floor.c — the least a file:// object GET or PUT can cost: only its system calls, from N threads.
 *
 *   floor get DIR SIZE THREADS SECS   open(path, O_RDONLY), one read() of SIZE bytes into the
 *                                     thread's buffer, close(); a random regular file of DIR each time
 *   floor put DIR SIZE THREADS SECS [MAX_OPS]
 *                                     open(new path, O_CREAT|O_TRUNC|O_WRONLY), one write() of SIZE
 *                                     bytes from the thread's buffer, close(); a new file of DIR each
 *                                     time; stops early after MAX_OPS files (to spare the disk)
 *
 * Each thread first takes a private copy of the process's descriptor table (unshare(CLONE_FILES))
 * and credentials (prctl(PR_SET_KEEPCAPS) with the value it has): every open and close writes
 * both, and shared by all threads they are cache lines that travel between the cores at every
 * request, which separate processes (fio's jobs) do not pay. sai3's file:// workers do the same
 * (src/core/exec/placement.rs). FLOOR_SHARED=1 keeps them shared, to see what that costs.
 *
 * Prints one line: "mode=get ops=N errors=0 elapsed=S.SSSSSS capped=0" (elapsed from the start of
 * the threads to the end of the last one; capped=1 when MAX_OPS ended the run).
 * Exits 1 when any call failed or transferred fewer bytes.
 * Built and run by scripts/bench.d/bench_local.py (cc -O2 -pthread).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/prctl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct worker {
    pthread_t tid;
    int index;
    uint64_t ops;
    uint64_t errors;
    int first_errno;
    double end;
    char pad[64];
};

static int put_mode;
static const char *dir;
static size_t size;
static char **paths;
static size_t npaths;
static atomic_int stop;
static unsigned long long max_ops;
static atomic_ullong issued;
static pthread_barrier_t start;
static int shared;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(struct worker *w, int err) {
    if (w->errors++ == 0)
        w->first_errno = err ? err : EIO;
}

static void *run(void *arg) {
    struct worker *w = arg;
    char *buf = aligned_alloc(4096, (size + 4095) / 4096 * 4096);
    if (!buf) {
        perror("floor: buffer");
        exit(2);
    }
    /* Touch the buffer (and give a PUT non-zero bytes) before the clock starts. */
    for (size_t i = 0; i < size; i++)
        buf[i] = (char)(i * 131 + w->index);
    uint64_t rnd = 0x9E3779B97F4A7C15ull * (uint64_t)(w->index + 1);
    size_t dlen = strlen(dir);
    char *name = malloc(dlen + 64);
    uint64_t seq = 0;
    if (!shared) {
        /* Best effort: a sandbox that refuses either leaves it shared. */
        unshare(CLONE_FILES);
        int keep = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
        if (keep >= 0)
            prctl(PR_SET_KEEPCAPS, (unsigned long)keep, 0, 0, 0);
    }
    pthread_barrier_wait(&start);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (put_mode) {
            if (max_ops && atomic_fetch_add_explicit(&issued, 1, memory_order_relaxed) >= max_ops) {
                atomic_store(&stop, 1);
                break;
            }
            snprintf(name, dlen + 64, "%s/floor-%02d-%08llu.dat", dir, w->index, (unsigned long long)seq++);
            int fd = open(name, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0) {
                fail(w, errno);
                break;
            }
            ssize_t n = write(fd, buf, size);
            if (n != (ssize_t)size)
                fail(w, n < 0 ? errno : 0);
            if (close(fd) != 0)
                fail(w, errno);
        } else {
            /* xorshift64 */
            rnd ^= rnd << 13;
            rnd ^= rnd >> 7;
            rnd ^= rnd << 17;
            int fd = open(paths[rnd % npaths], O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                fail(w, errno);
                break;
            }
            ssize_t n = read(fd, buf, size);
            if (n != (ssize_t)size)
                fail(w, n < 0 ? errno : 0);
            close(fd);
        }
        w->ops++;
    }
    w->end = now();
    free(name);
    free(buf);
    return NULL;
}

static void list_files(void) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "floor: %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    size_t cap = 1024;
    paths = malloc(cap * sizeof *paths);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (e->d_type != DT_REG && e->d_type != DT_UNKNOWN))
            continue;
        if (npaths == cap)
            paths = realloc(paths, (cap *= 2) * sizeof *paths);
        if (asprintf(&paths[npaths++], "%s/%s", dir, e->d_name) < 0)
            exit(2);
    }
    closedir(d);
    if (npaths == 0) {
        fprintf(stderr, "floor: no files in %s\n", dir);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc < 6 || argc > 7 || (strcmp(argv[1], "get") && strcmp(argv[1], "put"))) {
        fprintf(stderr, "usage: floor get|put DIR SIZE THREADS SECS [MAX_OPS]\n");
        return 2;
    }
    put_mode = !strcmp(argv[1], "put");
    shared = getenv("FLOOR_SHARED") && strcmp(getenv("FLOOR_SHARED"), "0");
    dir = argv[2];
    size = strtoull(argv[3], NULL, 10);
    int threads = atoi(argv[4]);
    double secs = strtod(argv[5], NULL);
    max_ops = argc == 7 ? strtoull(argv[6], NULL, 10) : 0;
    if (size == 0 || threads < 1 || secs <= 0) {
        fprintf(stderr, "floor: SIZE, THREADS and SECS must be positive\n");
        return 2;
    }
    if (!put_mode)
        list_files();
    struct worker *ws = calloc(threads, sizeof *ws);
    pthread_barrier_init(&start, NULL, threads + 1);
    for (int i = 0; i < threads; i++) {
        ws[i].index = i;
        if (pthread_create(&ws[i].tid, NULL, run, &ws[i]) != 0) {
            perror("floor: pthread_create");
            return 2;
        }
    }
    pthread_barrier_wait(&start);
    double t0 = now();
    /* Sleep until the deadline, looking every 10 ms whether MAX_OPS ended the run. */
    double deadline = t0 + secs;
    while (!atomic_load(&stop)) {
        double left = deadline - now();
        if (left <= 0)
            break;
        if (left > 0.01)
            left = 0.01;
        struct timespec nap = {0, (long)(left * 1e9)};
        nanosleep(&nap, NULL);
    }
    int capped = atomic_exchange(&stop, 1);
    uint64_t ops = 0, errors = 0;
    int err = 0;
    double end = t0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].tid, NULL);
        ops += ws[i].ops;
        errors += ws[i].errors;
        if (!err)
            err = ws[i].first_errno;
        if (ws[i].end > end)
            end = ws[i].end;
    }
    printf("mode=%s ops=%llu errors=%llu elapsed=%.6f capped=%d\n", argv[1], (unsigned long long)ops,
           (unsigned long long)errors, end - t0, capped);
    if (errors) {
        fprintf(stderr, "floor: %llu failed operations, first: %s\n", (unsigned long long)errors,
                err == EIO ? "short transfer or I/O error" : strerror(err));
        return 1;
    }
    return 0;
}
