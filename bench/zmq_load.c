/* Latency load generator and ZeroMQ floor in C, against the libzmq that pyzmq bundles, so that the
 * load generator's own CPU time (on a 2-core machine, time the venue does not get) is small.
 * bench/gateway_bench.py builds it with gcc when gcc is there.
 *
 *     zmq_load server ENDPOINT                  a ROUTER echo (the no-Python floor's server)
 *     zmq_load floor ENDPOINT RATE COUNT        40-byte messages at RATE/s through one DEALER
 *     zmq_load md ENDPOINT TOPIC SECONDS READYFILE [TRADES]
 *         a SUB of TOPIC for SECONDS or until TRADES trades came (READYFILE written once its first
 *         message, a heartbeat at the latest, shows the subscription reached the venue): for every trade of every
 *         ["md", sym, seq, ts, [[id, px, qty, side, ts], ...], levels] message, wall clock now - the
 *         trade's ts (the sequencing time of its order, ns since the epoch)
 *     zmq_load orders ENDPOINT RATE FILE [SERVERKEY PUBLIC0 SECRET0 PUBLIC1 SECRET1]
 *         the frames of FILE at RATE/s, alternating two DEALER sessions (CurveZMQ with the Z85
 *         keys given): FILE holds u32 L, L logon frames (one per session, each answered before
 *         the clock starts), u32 N, N order frames; each frame u32 length + msgpack bytes, and
 *         frame i carries request id i + 1. A request's round trip ends at the first answer
 *         naming it: ["reports", [[ev, seq, ts, req, ...], ...]] or [kind, req, ...].
 *
 * Prints: answered A p50 X p90 X p99 X p99.9 X max X (microseconds).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the few libzmq calls used, declared here: pyzmq's wheel ships the library but not zmq.h */
void *zmq_ctx_new(void);
void *zmq_socket(void *ctx, int type);
int zmq_bind(void *s, const char *endpoint);
int zmq_connect(void *s, const char *endpoint);
int zmq_send(void *s, const void *buf, size_t len, int flags);
int zmq_recv(void *s, void *buf, size_t len, int flags);
int zmq_getsockopt(void *s, int option, void *value, size_t *len);
int zmq_setsockopt(void *s, int option, const void *value, size_t len);
#define ZMQ_SUB 2
#define ZMQ_DEALER 5
#define ZMQ_ROUTER 6
#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2
#define ZMQ_FD 14
#define ZMQ_EVENTS 15
#define ZMQ_POLLIN 1
#define ZMQ_LINGER 17
#define ZMQ_SUBSCRIBE 6
#define ZMQ_CURVE_PUBLICKEY 48
#define ZMQ_CURVE_SECRETKEY 49
#define ZMQ_CURVE_SERVERKEY 50

#define MAX_REPLY (1 << 20)

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int serve(void *ctx, const char *endpoint) {
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    static char rid[256], buf[MAX_REPLY];
    if (zmq_bind(s, endpoint) != 0) return 1;
    for (;;) {
        int a = zmq_recv(s, rid, sizeof rid, 0);
        int b = zmq_recv(s, buf, sizeof buf, 0);
        if (a < 0 || b < 0) return 1;
        zmq_send(s, rid, a, ZMQ_SNDMORE);
        zmq_send(s, buf, b > (int)sizeof buf ? (int)sizeof buf : b, 0);
    }
}

/* ---- msgpack, just enough to find request ids ---------------------------------------------- */

static uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* the offset just past the value at p (or -1 when it runs past n); arrays and maps recurse */
static long skip(const uint8_t *b, long p, long n) {
    if (p >= n) return -1;
    uint8_t t = b[p];
    long k = 0, items = 0;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) return p + 1;
    if ((t & 0xe0) == 0xa0) return p + 1 + (t & 0x1f);
    if ((t & 0xf0) == 0x90) { items = t & 0x0f; p += 1; }
    else if ((t & 0xf0) == 0x80) { items = 2 * (t & 0x0f); p += 1; }
    else switch (t) {
        case 0xcc: case 0xd0: return p + 2;
        case 0xcd: case 0xd1: return p + 3;
        case 0xce: case 0xd2: case 0xca: return p + 5;
        case 0xcf: case 0xd3: case 0xcb: return p + 9;
        case 0xd4: return p + 3;
        case 0xd5: return p + 4;
        case 0xd6: return p + 6;
        case 0xd7: return p + 10;
        case 0xd8: return p + 18;
        case 0xc4: case 0xd9: if (p + 2 > n) return -1; return p + 2 + b[p + 1];
        case 0xc5: case 0xda: if (p + 3 > n) return -1; return p + 3 + (long)be(b + p + 1, 2);
        case 0xc6: case 0xdb: if (p + 5 > n) return -1; return p + 5 + (long)be(b + p + 1, 4);
        case 0xc7: if (p + 2 > n) return -1; return p + 3 + b[p + 1];
        case 0xc8: if (p + 3 > n) return -1; return p + 4 + (long)be(b + p + 1, 2);
        case 0xc9: if (p + 5 > n) return -1; return p + 6 + (long)be(b + p + 1, 4);
        case 0xdc: if (p + 3 > n) return -1; items = (long)be(b + p + 1, 2); p += 3; break;
        case 0xdd: if (p + 5 > n) return -1; items = (long)be(b + p + 1, 4); p += 5; break;
        case 0xde: if (p + 3 > n) return -1; items = 2 * (long)be(b + p + 1, 2); p += 3; break;
        case 0xdf: if (p + 5 > n) return -1; items = 2 * (long)be(b + p + 1, 4); p += 5; break;
        default: return -1;
    }
    for (k = 0; k < items && p >= 0; k++) p = skip(b, p, n);
    return p;
}

/* an array header at *p: its length, *p moved past the header (-1 if not an array) */
static long array_len(const uint8_t *b, long *p, long n) {
    if (*p >= n) return -1;
    uint8_t t = b[*p];
    if ((t & 0xf0) == 0x90) { *p += 1; return t & 0x0f; }
    if (t == 0xdc && *p + 3 <= n) { long v = (long)be(b + *p + 1, 2); *p += 3; return v; }
    if (t == 0xdd && *p + 5 <= n) { long v = (long)be(b + *p + 1, 4); *p += 5; return v; }
    return -1;
}

/* an unsigned integer at p (-1 if it is anything else, nil included) */
static int64_t uint_at(const uint8_t *b, long p, long n) {
    if (p >= n) return -1;
    uint8_t t = b[p];
    if (t <= 0x7f) return t;
    if (t == 0xcc && p + 2 <= n) return b[p + 1];
    if (t == 0xcd && p + 3 <= n) return (int64_t)be(b + p + 1, 2);
    if (t == 0xce && p + 5 <= n) return (int64_t)be(b + p + 1, 4);
    if (t == 0xcf && p + 9 <= n) return (int64_t)be(b + p + 1, 8);
    return -1;
}

/* records the round trip of each request an answer names, at its first answer */
static void answered(const uint8_t *b, long n, int64_t *sent, int64_t count, int64_t *lat, int64_t *got, int64_t t) {
    long p = 0, len = array_len(b, &p, n);
    if (len < 2) return;
    int reports = p + 8 <= n && b[p] == 0xa7 && !memcmp(b + p + 1, "reports", 7);
    p = skip(b, p, n);
    if (!reports) {
        int64_t req = uint_at(b, p, n);
        if (req >= 1 && req <= count && sent[req - 1] >= 0) { lat[(*got)++] = t - sent[req - 1]; sent[req - 1] = -1; }
        return;
    }
    long k = array_len(b, &p, n);
    for (long i = 0; i < k && p >= 0; i++) {
        long q = p, fields = array_len(b, &q, n);
        for (long f = 0; f < 3 && f < fields && q >= 0; f++) q = skip(b, q, n);
        if (fields > 3 && q >= 0) {
            int64_t req = uint_at(b, q, n);
            if (req >= 1 && req <= count && sent[req - 1] >= 0) { lat[(*got)++] = t - sent[req - 1]; sent[req - 1] = -1; }
        }
        p = skip(b, p, n);
    }
}

/* ---- the open-loop driver ------------------------------------------------------------------- */

typedef struct { uint32_t len; uint8_t *data; } Frame;

static Frame *read_frames(FILE *f, uint32_t *count) {
    if (fread(count, 4, 1, f) != 1) return NULL;
    Frame *fr = calloc(*count ? *count : 1, sizeof *fr);
    for (uint32_t i = 0; i < *count; i++) {
        if (fread(&fr[i].len, 4, 1, f) != 1) return NULL;
        fr[i].data = malloc(fr[i].len ? fr[i].len : 1);
        if (fr[i].len && fread(fr[i].data, fr[i].len, 1, f) != 1) return NULL;
    }
    return fr;
}

static int report(int64_t *lat, int64_t got) {
    if (!got) return 1;
    qsort(lat, got, sizeof *lat, by_value);
    printf("answered %lld p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max %.0f\n", (long long)got, lat[got / 2] / 1e3,
           lat[got * 9 / 10] / 1e3, lat[got * 99 / 100] / 1e3, lat[got * 999 / 1000] / 1e3, lat[got - 1] / 1e3);
    return 0;
}

/* frame i at t0 + i / rate through socket i % n_socks; sleeps on the sockets' descriptors until
 * the next send is due or an answer may have come */
static int drive(void **socks, int n_socks, Frame *frames, int64_t count, double rate, int raw) {
    static uint8_t buf[MAX_REPLY];
    int64_t *sent = calloc(count, sizeof *sent), *lat = calloc(count, sizeof *lat), got = 0, i = 0;
    struct pollfd fds[2];
    for (int k = 0; k < n_socks; k++) {
        size_t len = sizeof fds[k].fd;
        zmq_getsockopt(socks[k], ZMQ_FD, &fds[k].fd, &len);
        fds[k].events = POLLIN;
    }
    int64_t t0 = now_ns(), period = (int64_t)(1e9 / rate), end = t0 + (int64_t)(count / rate * 1e9) + 30000000000LL; /* late answers: a busy machine */
    while (got < count && now_ns() < end) {
        if (i < count && now_ns() >= t0 + i * period) {
            sent[i] = now_ns();
            zmq_send(socks[i % n_socks], frames[i].data, frames[i].len, ZMQ_DONTWAIT);
            i++;
            continue;
        }
        int any = 0;
        for (int k = 0; k < n_socks; k++) {
            int events;
            size_t len = sizeof events;
            zmq_getsockopt(socks[k], ZMQ_EVENTS, &events, &len);
            while (events & ZMQ_POLLIN) {
                int n = zmq_recv(socks[k], buf, sizeof buf, ZMQ_DONTWAIT);
                int64_t t = now_ns();
                if (n < 0) break;
                if (n > (int)sizeof buf) n = sizeof buf;
                if (raw) {
                    int32_t j;
                    if (n >= 4) {
                        memcpy(&j, buf, 4);
                        if (j >= 0 && j < count && sent[j] >= 0) { lat[got++] = t - sent[j]; sent[j] = -1; }
                    }
                } else {
                    answered(buf, n, sent, count, lat, &got, t);
                }
                any = 1;
                len = sizeof events;
                zmq_getsockopt(socks[k], ZMQ_EVENTS, &events, &len);
            }
        }
        if (any) continue;
        int64_t wait_ns = i < count ? t0 + i * period - now_ns() : 10000000;
        if (wait_ns <= 0) continue;
        struct timespec ts = {wait_ns / 1000000000LL, wait_ns % 1000000000LL};
        ppoll(fds, n_socks, &ts, NULL);
    }
    return report(lat, got);
}

static void *dealer(void *ctx, const char *endpoint, char **keys) {
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (keys) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, keys[0], 40);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, keys[1], 40);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, keys[2], 40);
    }
    return zmq_connect(s, endpoint) == 0 ? s : NULL;
}

static int orders(void *ctx, const char *endpoint, double rate, const char *path, char **keys) {
    static uint8_t buf[MAX_REPLY];
    FILE *f = fopen(path, "rb");
    uint32_t n_logon, n;
    Frame *logon, *frames;
    if (!f || !(logon = read_frames(f, &n_logon)) || !(frames = read_frames(f, &n))) return 2;
    fclose(f);
    void *socks[2];
    for (int k = 0; k < 2; k++) {
        char *sk[3] = {keys ? keys[0] : NULL, keys ? keys[1 + 2 * k] : NULL, keys ? keys[2 + 2 * k] : NULL};
        if (!(socks[k] = dealer(ctx, endpoint, keys ? sk : NULL))) return 1;
        if (k < (int)n_logon) {  /* logged on and answered before the clock starts */
            zmq_send(socks[k], logon[k].data, logon[k].len, 0);
            zmq_recv(socks[k], buf, sizeof buf, 0);
        }
    }
    return drive(socks, 2, frames, n, rate, 0);
}

static int floor_client(void *ctx, const char *endpoint, double rate, int64_t count) {
    void *s = dealer(ctx, endpoint, NULL);
    Frame *frames = calloc(count, sizeof *frames);
    char warm[8] = "warm-up";
    if (!s) return 1;
    zmq_send(s, warm, sizeof warm, 0); /* connected and answered once before the clock starts */
    zmq_recv(s, warm, sizeof warm, 0);
    for (int64_t i = 0; i < count; i++) {
        frames[i].len = 40;
        frames[i].data = calloc(1, 40);
        int32_t j = (int32_t)i;
        memcpy(frames[i].data, &j, 4);
    }
    return drive(&s, 1, frames, count, rate, 1);
}

static int64_t wall_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int market_data(void *ctx, const char *endpoint, const char *topic, double seconds, const char *ready,
                       int64_t stop_after) {
    static uint8_t buf[MAX_REPLY];
    void *s = zmq_socket(ctx, ZMQ_SUB);
    int64_t cap = 1 << 20, got = 0, *lat = malloc(cap * sizeof *lat);
    int fd;
    size_t len = sizeof fd;
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, topic, strlen(topic));
    if (zmq_connect(s, endpoint) != 0) return 1;
    zmq_getsockopt(s, ZMQ_FD, &fd, &len);
    /* ready once the subscription reached the publisher: its first message (a heartbeat comes
     * every second) has arrived; no fixed pause, which a busy machine can outlast */
    int64_t give_up = now_ns() + 60000000000LL;
    for (;;) {
        int events;
        len = sizeof events;
        zmq_getsockopt(s, ZMQ_EVENTS, &events, &len);
        if (events & ZMQ_POLLIN) break;
        if (now_ns() > give_up) return 3;
        struct pollfd p = {fd, POLLIN, 0};
        struct timespec ts = {0, 100000000};
        ppoll(&p, 1, &ts, NULL);
    }
    FILE *f = fopen(ready, "w");
    if (!f) return 2;
    fputs("ready", f);
    fclose(f);
    int64_t end = now_ns() + (int64_t)(seconds * 1e9);
    while (now_ns() < end && (stop_after <= 0 || got < stop_after)) {
        int events;
        len = sizeof events;
        zmq_getsockopt(s, ZMQ_EVENTS, &events, &len);
        if (!(events & ZMQ_POLLIN)) {
            struct pollfd p = {fd, POLLIN, 0};
            struct timespec ts = {0, 100000000};
            ppoll(&p, 1, &ts, NULL);
            continue;
        }
        zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT); /* the topic */
        long n = zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT), p = 0;
        int64_t t = wall_ns();
        if (n > (long)sizeof buf) n = sizeof buf;
        if (n < 0 || array_len(buf, &p, n) < 6 || p + 3 > n || memcmp(buf + p, "\xa2md", 3)) continue;
        for (int f = 0; f < 4 && p >= 0; f++) p = skip(buf, p, n);
        long trades = p >= 0 ? array_len(buf, &p, n) : -1;
        for (long i = 0; i < trades && p >= 0; i++) {
            long q = p, fields = array_len(buf, &q, n);
            for (int f = 0; f < 4 && q >= 0; f++) q = skip(buf, q, n);
            int64_t ts = fields >= 5 && q >= 0 ? uint_at(buf, q, n) : -1;
            if (ts > 0 && got < cap) lat[got++] = t - ts;
            p = skip(buf, p, n);
        }
    }
    return report(lat, got);
}

int main(int argc, char **argv) {
    void *ctx = zmq_ctx_new();
    if (argc == 3 && !strcmp(argv[1], "server")) return serve(ctx, argv[2]);
    if (argc == 5 && !strcmp(argv[1], "floor")) return floor_client(ctx, argv[2], atof(argv[3]), atoll(argv[4]));
    if ((argc == 6 || argc == 7) && !strcmp(argv[1], "md"))
        return market_data(ctx, argv[2], argv[3], atof(argv[4]), argv[5], argc == 7 ? atoll(argv[6]) : 0);
    if ((argc == 5 || argc == 10) && !strcmp(argv[1], "orders"))
        return orders(ctx, argv[2], atof(argv[3]), argv[4], argc == 10 ? argv + 5 : NULL);
    fprintf(stderr, "usage: zmq_load server EP | floor EP RATE COUNT | md EP TOPIC SECONDS READYFILE [TRADES] | "
                    "orders EP RATE FILE [5 curve keys]\n");
    return 2;
}
