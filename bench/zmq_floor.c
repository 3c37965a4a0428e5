/* The machine's ZeroMQ floor, with no Python anywhere: a ROUTER echo server and an open-loop DEALER
 * client sending 40-byte messages at a fixed rate, both in C against the libzmq that pyzmq bundles.
 * bench/gateway_bench.py builds and runs it (when gcc is there) as a second baseline.
 *
 *     zmq_floor server ENDPOINT
 *     zmq_floor client ENDPOINT RATE COUNT    prints: answered N p50 X p90 Y p99 Z (microseconds)
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
#define ZMQ_DEALER 5
#define ZMQ_ROUTER 6
#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2
#define ZMQ_FD 14
#define ZMQ_EVENTS 15
#define ZMQ_POLLIN 1

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
    char rid[256], buf[4096];
    if (zmq_bind(s, endpoint) != 0) return 1;
    for (;;) {
        int a = zmq_recv(s, rid, sizeof rid, 0);
        int b = zmq_recv(s, buf, sizeof buf, 0);
        if (a < 0 || b < 0) return 1;
        zmq_send(s, rid, a, ZMQ_SNDMORE);
        zmq_send(s, buf, b, 0);
    }
}

/* sends message i at t0 + i / rate; sleeps on the socket's descriptor until then or a reply */
static int client(void *ctx, const char *endpoint, double rate, int n) {
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int fd, got = 0, i = 0;
    size_t len = sizeof fd;
    int64_t *sent = calloc(n, sizeof *sent), *lat = calloc(n, sizeof *lat);
    char msg[64], reply[64];
    memset(msg, 'x', sizeof msg);
    if (zmq_connect(s, endpoint) != 0) return 1;
    zmq_getsockopt(s, ZMQ_FD, &fd, &len);
    zmq_send(s, msg, 8, 0); /* connected and answered once before the clock starts */
    zmq_recv(s, reply, sizeof reply, 0);
    int64_t t0 = now_ns(), period = (int64_t)(1e9 / rate), end = t0 + (int64_t)(n / rate * 1e9) + 5000000000LL;
    while (got < n && now_ns() < end) {
        int64_t t = now_ns();
        if (i < n && t >= t0 + i * period) {
            memcpy(msg, &i, sizeof i);
            sent[i] = now_ns();
            zmq_send(s, msg, 40, ZMQ_DONTWAIT);
            i++;
            continue;
        }
        int events;
        len = sizeof events;
        zmq_getsockopt(s, ZMQ_EVENTS, &events, &len);
        if (events & ZMQ_POLLIN) {
            int j;
            if (zmq_recv(s, reply, sizeof reply, ZMQ_DONTWAIT) >= (int)sizeof j) {
                memcpy(&j, reply, sizeof j);
                lat[got++] = now_ns() - sent[j];
            }
            continue;
        }
        int64_t wait_ns = i < n ? t0 + i * period - t : 10000000;
        struct pollfd p = {fd, POLLIN, 0};
        struct timespec ts = {wait_ns / 1000000000LL, wait_ns % 1000000000LL};
        ppoll(&p, 1, &ts, NULL);
    }
    if (!got) return 1;
    qsort(lat, got, sizeof *lat, by_value);
    printf("answered %d p50 %.0f p90 %.0f p99 %.0f\n", got, lat[got / 2] / 1e3, lat[got * 9 / 10] / 1e3,
           lat[got * 99 / 100] / 1e3);
    return 0;
}

int main(int argc, char **argv) {
    void *ctx = zmq_ctx_new();
    if (argc == 3 && !strcmp(argv[1], "server")) return serve(ctx, argv[2]);
    if (argc == 5 && !strcmp(argv[1], "client")) return client(ctx, argv[2], atof(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: zmq_floor server ENDPOINT | client ENDPOINT RATE COUNT\n");
    return 2;
}
