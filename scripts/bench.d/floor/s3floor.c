/* s3floor.c — the least an S3 GET or PUT over HTTP/1.1 can cost a client: one send() of a request
 * signed beforehand, then recv() until the answer's head and Content-Length bytes of body are in,
 * on keep-alive connections, from N blocking threads. No signing, no parsing beyond the status
 * line and Content-Length, no allocation and no clock per request.
 *
 *   s3floor REQUESTS THREADS SECS [sequential]
 *
 * REQUESTS is written by scripts/bench.d/bench_s3.py: a first line "endpoints HOST:PORT ...", then
 * for each request a line "request E LEN" followed by LEN bytes (head and body, sent as they are)
 * for endpoint E (0-based; the signature covers the Host header, so each request belongs to one).
 * Each thread keeps one connection per endpoint and sends its requests to the endpoints in turn
 * (round robin, as sai3's bench config does). It picks an endpoint's requests at random (GET), or
 * with "sequential" walks the requests i, i+N, i+2N, ... of its index i (PUT: every key a new one
 * until the list wraps).
 *
 * Prints one line: "mode=s3 ops=N errors=E elapsed=S.SSSSSS bytes=B"; exits 1 when any request
 * failed (a status other than 2xx, a closed connection, a short answer).
 * Built and run by scripts/bench.d/bench_s3.py (cc -O2 -pthread).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EP 8
#define BUF (256 * 1024)

struct req {
    char *data;
    size_t len;
};

struct worker {
    int index;
    int fds[MAX_EP];
    int next;     /* the endpoint of the request in flight */
    uint64_t rnd;
    size_t seq[MAX_EP];
    char *buf;
    size_t have, head, body; /* the answer so far */
    uint64_t ops, errors, bytes;
    double end;
    char msg[160];
    char pad[64];
};

static struct sockaddr_in eps[MAX_EP];
static int neps;
static struct req *reqs[MAX_EP];
static size_t nreqs[MAX_EP];
static int workers, sequential, loops;
static struct worker *all;
static atomic_int stop;
static pthread_barrier_t start;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(const struct sockaddr_in *a) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        connect(fd, (const struct sockaddr *)a, sizeof *a) != 0) {
        perror("s3floor: connect");
        exit(2);
    }
    return fd;
}

static int failed(struct worker *w, const char *what, ssize_t n) {
    snprintf(w->msg, sizeof w->msg, "%s: %s", what, n ? strerror(errno) : "closed");
    return -1;
}

/* Send the worker's next request (to its current endpoint); 0 when sent. */
static int send_next(struct worker *w) {
    int e = w->next;
    size_t i;
    if (sequential) {
        i = w->seq[e] % nreqs[e];
        w->seq[e] += (size_t)workers;
    } else {
        w->rnd ^= w->rnd << 13;
        w->rnd ^= w->rnd >> 7;
        w->rnd ^= w->rnd << 17;
        i = w->rnd % nreqs[e];
    }
    const struct req *r = &reqs[e][i];
    for (size_t off = 0; off < r->len;) {
        ssize_t n = send(w->fds[e], r->data + off, r->len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return failed(w, "send", n);
        off += (size_t)n;
    }
    w->have = w->head = w->body = 0;
    return 0;
}

/* One recv() of the answer in flight: 1 when it is complete (the next endpoint is then current),
 * 0 when more is to come, -1 on a failure. A blocking socket waits in recv(); a non-blocking one
 * returns 0 at EAGAIN. */
static int receive(struct worker *w) {
    char *buf = w->buf;
    ssize_t n = recv(w->fds[w->next], buf + (w->head ? 0 : w->have), w->head ? BUF : BUF - w->have, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n <= 0)
        return failed(w, "recv", n);
    w->have += (size_t)n;
    if (!w->head) {
        char *end = memmem(buf, w->have, "\r\n\r\n", 4);
        if (!end) {
            if (w->have == BUF)
                return snprintf(w->msg, sizeof w->msg, "answer head over %d bytes", BUF), -1;
            return 0;
        }
        w->head = (size_t)(end + 4 - buf);
        if (w->have < 12 || buf[9] != '2')
            return snprintf(w->msg, sizeof w->msg, "answer: %.40s", buf), -1;
        for (char *p = buf; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
            p += *p == '\n';
            if (!strncasecmp(p, "content-length:", 15))
                w->body = strtoull(p + 15, NULL, 10);
        }
        w->have -= w->head;
    }
    if (w->have < w->body)
        return 0;
    w->bytes += w->body;
    w->ops++;
    w->next = (w->next + 1) % neps;
    return 1;
}

static void setup(struct worker *w) {
    w->buf = malloc(BUF);
    for (int e = 0; e < neps; e++) {
        w->fds[e] = dial(&eps[e]);
        w->seq[e] = (size_t)w->index;
    }
    w->rnd = 0x9E3779B97F4A7C15ull * (uint64_t)(w->index + 1);
    w->next = w->index % neps;
}

/* A blocking worker: its own thread, one request at a time. */
static void *run(void *arg) {
    struct worker *w = arg;
    setup(w);
    pthread_barrier_wait(&start);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        int r = send_next(w);
        while (r == 0)
            r = receive(w);
        if (r < 0) {
            w->errors++;
            break;
        }
    }
    w->end = now();
    return NULL;
}

/* An event loop (S3FLOOR_LOOPS=T): thread t drives workers t, t+T, ... over non-blocking sockets
 * with one epoll instance; an answer's last bytes send the worker's next request at once. */
static void *loop(void *arg) {
    int t = (int)(intptr_t)arg, ep = epoll_create1(EPOLL_CLOEXEC), live = 0;
    for (int k = t; k < workers; k += loops) {
        struct worker *w = &all[k];
        setup(w);
        for (int e = 0; e < neps; e++) {
            fcntl(w->fds[e], F_SETFL, O_NONBLOCK);
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)k};
            epoll_ctl(ep, EPOLL_CTL_ADD, w->fds[e], &ev);
        }
    }
    pthread_barrier_wait(&start);
    for (int k = t; k < workers; k += loops)
        if (send_next(&all[k]) == 0)
            live++;
        else
            all[k].errors++;
    struct epoll_event evs[64];
    while (live && !atomic_load_explicit(&stop, memory_order_relaxed)) {
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            struct worker *w = &all[evs[i].data.u64];
            if (w->errors)
                continue;
            int r = receive(w);
            if (r == 1 && !atomic_load_explicit(&stop, memory_order_relaxed))
                r = send_next(w) == 0 ? 0 : -1;
            if (r < 0) {
                w->errors++;
                live--;
            }
        }
    }
    double end = now();
    for (int k = t; k < workers; k += loops)
        all[k].end = end;
    return NULL;
}

static void load(const char *path) {
    FILE *f = fopen(path, "rb");
    char line[1024];
    if (!f || !fgets(line, sizeof line, f) || strncmp(line, "endpoints ", 10)) {
        fprintf(stderr, "s3floor: %s: not a request file\n", path);
        exit(2);
    }
    for (char *tok = strtok(line + 10, " \n"); tok && neps < MAX_EP; tok = strtok(NULL, " \n")) {
        char *colon = strrchr(tok, ':');
        if (!colon)
            exit(2);
        *colon = 0;
        eps[neps].sin_family = AF_INET;
        eps[neps].sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, tok, &eps[neps].sin_addr) != 1) {
            fprintf(stderr, "s3floor: %s: not an IPv4 address\n", tok);
            exit(2);
        }
        neps++;
    }
    size_t cap[MAX_EP] = {0};
    unsigned long long len;
    int e;
    while (fscanf(f, "request %d %llu\n", &e, &len) == 2) {
        if (e < 0 || e >= neps)
            exit(2);
        if (nreqs[e] == cap[e])
            reqs[e] = realloc(reqs[e], (cap[e] = cap[e] ? 2 * cap[e] : 1024) * sizeof *reqs[e]);
        struct req *r = &reqs[e][nreqs[e]++];
        r->data = malloc(len);
        r->len = len;
        if (fread(r->data, 1, len, f) != len)
            exit(2);
    }
    fclose(f);
    for (e = 0; e < neps; e++)
        if (!nreqs[e]) {
            fprintf(stderr, "s3floor: %s: no requests for endpoint %d\n", path, e);
            exit(2);
        }
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: s3floor REQUESTS WORKERS SECS [sequential]\n");
        return 2;
    }
    load(argv[1]);
    workers = atoi(argv[2]);
    double secs = strtod(argv[3], NULL);
    sequential = argc == 5 && !strcmp(argv[4], "sequential");
    loops = getenv("S3FLOOR_LOOPS") ? atoi(getenv("S3FLOOR_LOOPS")) : 0;
    if (workers < 1 || secs <= 0 || loops < 0) {
        fprintf(stderr, "s3floor: WORKERS, SECS and S3FLOOR_LOOPS must be positive\n");
        return 2;
    }
    if (loops > workers)
        loops = workers;
    all = calloc((size_t)workers, sizeof *all);
    int threads = loops ? loops : workers;
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < workers; i++)
        all[i].index = i;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, loops ? loop : run, loops ? (void *)(intptr_t)i : &all[i]) != 0) {
            perror("s3floor: pthread_create");
            return 2;
        }
    pthread_barrier_wait(&start);
    double t0 = now();
    struct timespec nap = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
    nanosleep(&nap, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    uint64_t ops = 0, errors = 0, bytes = 0;
    double end = t0;
    const char *msg = NULL;
    for (int i = 0; i < workers; i++) {
        ops += all[i].ops;
        errors += all[i].errors;
        bytes += all[i].bytes;
        if (!msg && all[i].errors)
            msg = all[i].msg;
        if (all[i].end > end)
            end = all[i].end;
    }
    printf("mode=s3 ops=%llu errors=%llu elapsed=%.6f bytes=%llu\n", (unsigned long long)ops,
           (unsigned long long)errors, end - t0, (unsigned long long)bytes);
    if (errors) {
        fprintf(stderr, "s3floor: %llu failed requests, first: %s\n", (unsigned long long)errors, msg);
        return 1;
    }
    return 0;
}
