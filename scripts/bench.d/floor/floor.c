/* floor.c — the least a file:// object GET or PUT can cost: only its system calls, from N threads.
 *
 *   floor get DIR SIZE THREADS SECS   open(path, O_RDONLY), one read() of SIZE bytes into the
 *                                     thread's buffer, close(); a random regular file of DIR each time
 *   floor put DIR SIZE THREADS SECS [MAX_OPS]
 *                                     open(new path, O_CREAT|O_TRUNC|O_WRONLY), one write() of SIZE
 *                                     bytes from the thread's buffer, close(); a new file of DIR each
 *                                     time; stops early after MAX_OPS files (to spare the disk)
 *   floor uring DIR SIZE THREADS SECS DEPTH
 *                                     the GET the way sai3's io_uring threads do it
 *                                     (src/core/store/uring.rs): each thread a ring with DEPTH
 *                                     requests in flight, each one linked chain of three — openat of
 *                                     a random file of DIR into a slot of the ring's registered file
 *                                     table, read() of SIZE bytes into the slot's buffer, close of
 *                                     the slot (hard-linked: it runs whatever the read returned) —
 *                                     and all the chains a thread has ready handed to the kernel in
 *                                     one io_uring_enter. Raw system calls (no liburing to install);
 *                                     exits 2 when the kernel refuses io_uring. Its threads take
 *                                     private credentials only: a direct descriptor is never in the
 *                                     descriptor table.
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
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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
static int uring_mode;
static int depth;
static const char *dir;
static size_t size;
static char **paths;
static size_t npaths;
static atomic_int stop;
static unsigned long long max_ops;
static atomic_ullong issued;
static pthread_barrier_t start;
static int shared;

struct ring {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    unsigned tail;
};

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

static int ring_init(struct ring *r, unsigned entries) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (r->fd < 0)
        return -1;
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP && cq_len > sq_len)
        sq_len = cq_len;
    char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED)
        return -1;
    char *cq = sq;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
        if (cq == MAP_FAILED)
            return -1;
    }
    r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                   r->fd, IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED)
        return -1;
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    r->tail = *r->sq_tail;
    struct io_uring_rsrc_register reg;
    memset(&reg, 0, sizeof reg);
    reg.nr = depth;
    reg.flags = IORING_RSRC_REGISTER_SPARSE;
    return (int)syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_FILES2, &reg, sizeof reg);
}

static struct io_uring_sqe *next_sqe(struct ring *r) {
    unsigned i = r->tail & *r->sq_mask;
    struct io_uring_sqe *s = &r->sqes[i];
    memset(s, 0, sizeof *s);
    r->sq_array[i] = i;
    r->tail++;
    return s;
}

/* Queue slot's chain: open a random file into the slot, read SIZE bytes, close the slot. */
static void queue_chain(struct ring *r, int slot, char *buf, uint64_t *rnd) {
    *rnd ^= *rnd << 13;
    *rnd ^= *rnd >> 7;
    *rnd ^= *rnd << 17;
    struct io_uring_sqe *s = next_sqe(r);
    s->opcode = IORING_OP_OPENAT;
    s->fd = AT_FDCWD;
    s->addr = (uint64_t)(uintptr_t)paths[*rnd % npaths];
    s->open_flags = O_RDONLY;
    s->file_index = slot + 1;
    s->flags = IOSQE_IO_LINK;
    s->user_data = (uint64_t)slot << 2;
    s = next_sqe(r);
    s->opcode = IORING_OP_READ;
    s->fd = slot;
    s->addr = (uint64_t)(uintptr_t)buf;
    s->len = size;
    s->flags = IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
    s->user_data = ((uint64_t)slot << 2) | 1;
    s = next_sqe(r);
    s->opcode = IORING_OP_CLOSE;
    s->file_index = slot + 1;
    s->user_data = ((uint64_t)slot << 2) | 2;
}

static void *run_uring(void *arg) {
    struct worker *w = arg;
    struct ring r;
    int keep = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
    if (keep >= 0)
        prctl(PR_SET_KEEPCAPS, (unsigned long)keep, 0, 0, 0);
    unsigned entries = 8;
    while (entries < (unsigned)depth * 3)
        entries *= 2;
    if (ring_init(&r, entries) < 0) {
        fprintf(stderr, "floor: io_uring refused: %s\n", strerror(errno));
        exit(2);
    }
    size_t blen = (size + 4095) / 4096 * 4096;
    char *bufs = aligned_alloc(4096, blen * depth);
    memset(bufs, 1, blen * depth);
    uint64_t rnd = 0x9E3779B97F4A7C15ull * (uint64_t)(w->index + 1);
    pthread_barrier_wait(&start);
    for (int s = 0; s < depth; s++)
        queue_chain(&r, s, bufs + s * blen, &rnd);
    int in_flight = depth;
    unsigned submitted = r.tail - *r.sq_tail;
    while (in_flight > 0) {
        atomic_store_explicit((_Atomic unsigned *)r.sq_tail, r.tail, memory_order_release);
        long n = syscall(__NR_io_uring_enter, r.fd, submitted, 1, IORING_ENTER_GETEVENTS, NULL, 0);
        if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) {
            fprintf(stderr, "floor: io_uring_enter: %s\n", strerror(errno));
            exit(2);
        }
        int stopping = atomic_load_explicit(&stop, memory_order_relaxed);
        unsigned head = *r.cq_head;
        unsigned tail = atomic_load_explicit((_Atomic unsigned *)r.cq_tail, memory_order_acquire);
        unsigned before = r.tail;
        for (; head != tail; head++) {
            struct io_uring_cqe *c = &r.cqes[head & *r.cq_mask];
            int slot = (int)(c->user_data >> 2), step = (int)(c->user_data & 3);
            if ((step == 0 && c->res < 0) || (step == 1 && c->res != (int)size))
                fail(w, c->res < 0 ? -c->res : 0);
            if (step == 2) {
                w->ops++;
                if (stopping)
                    in_flight--;
                else
                    queue_chain(&r, slot, bufs + slot * blen, &rnd);
            }
        }
        atomic_store_explicit((_Atomic unsigned *)r.cq_head, head, memory_order_release);
        submitted = r.tail - before;
    }
    w->end = now();
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
    if (argc < 6 || argc > 7 || (strcmp(argv[1], "get") && strcmp(argv[1], "put") && strcmp(argv[1], "uring")) ||
        (!strcmp(argv[1], "uring") && argc != 7)) {
        fprintf(stderr, "usage: floor get|put DIR SIZE THREADS SECS [MAX_OPS]\n       floor uring DIR SIZE THREADS SECS DEPTH\n");
        return 2;
    }
    put_mode = !strcmp(argv[1], "put");
    uring_mode = !strcmp(argv[1], "uring");
    shared = getenv("FLOOR_SHARED") && strcmp(getenv("FLOOR_SHARED"), "0");
    dir = argv[2];
    size = strtoull(argv[3], NULL, 10);
    int threads = atoi(argv[4]);
    double secs = strtod(argv[5], NULL);
    max_ops = argc == 7 && !uring_mode ? strtoull(argv[6], NULL, 10) : 0;
    depth = uring_mode ? atoi(argv[6]) : 0;
    if (uring_mode && depth < 1) {
        fprintf(stderr, "floor: DEPTH must be positive\n");
        return 2;
    }
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
        if (pthread_create(&ws[i].tid, NULL, uring_mode ? run_uring : run, &ws[i]) != 0) {
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
