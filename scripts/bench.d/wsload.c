// wsload: the WebSocket load generator of scripts/bench (C, epoll, one thread per core).
//
//   wsload -p PORT -f CONNFILE [-t THREADS] [-m fanout|idle] [-P PHASES] [-w WARMUP_S]
//          [-D DRAIN_S] [-c PIDS] [-k PENDING] [-x PATH_PREFIX]
//
// CONNFILE has one line per WebSocket connection: "<E|M> <session id> <join data JSON>".
// Each connection opens <PATH_PREFIX><session id> (default /ws/sessions/), sends
// {"type":"join","data":<join data>} and waits for "welcome". "E" connections are editors: each
// sends ops {"type":"op","data":{"revision":R,"ops":["@<t>",-L]}} that replace its document with
// "@<t>", where <t> is CLOCK_MONOTONIC in nanoseconds when the op was sent; one op in flight
// (the next after the ack, as ot.js' client protocol does). Every other connection that receives
// an "op" frame takes the time from it: send-to-receipt latency, in one process, on one clock.
//
// fanout: PHASES is "RATE:SECONDS,RATE:SECONDS,..." (ops/s per editor; 0 = saturate: the next op
// as soon as the ack comes). Each phase has WARMUP_S of load that is not counted, then SECONDS
// measured, then DRAIN_S without new ops. Over each measured window it counts deliveries (op
// frames received), ops, acks, latencies (1 us buckets up to 1 s), and the CPU time (utime+stime
// from /proc/<pid>/stat) of the processes listed in PIDS (comma-separated). The result is one
// JSON object on stdout.
// idle: joins every connection, prints {"event":"ready",...} on stdout, then holds the
// connections (answering pings) until its stdin closes; then prints the summary and exits.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PHASES 8
#define MAX_PIDS 16
#define HIST_US 1000000            // 1 us buckets up to 1 s; the last bucket takes the rest
#define READ_BUF (256 * 1024)

enum { S_CONNECTING, S_HANDSHAKE, S_JOINING, S_JOINED, S_CLOSED };

struct conn {
    int fd;
    uint8_t state, editor, inflight;
    char *session, *join;            // from the file
    char *rbuf;                      // bytes of an incomplete frame (or handshake)
    uint32_t rlen, rcap;
    char *wbuf;                      // bytes the socket did not take yet
    uint32_t wlen, woff, wcap;
    // editor state
    long long revision;
    int doclen;                      // document length (scalars) after the last acked op
    int pending_len;                 // length of the op in flight's text
    uint64_t sent_ns, next_due;
};

struct stats {
    uint64_t deliveries, ops_sent, acks, other, late, errors;
    uint32_t *hist;                  // delivery latency
    uint32_t *ack_hist;              // editor: op sent -> ack received
};

struct thread {
    int index, epfd;
    pthread_t tid;
    struct conn **conns;
    int count, editors;
    int joined, failed, closed_after_join;
    struct stats phase[MAX_PHASES];
    char *buf;
    uint32_t mask_state;
};

static const char *host = "127.0.0.1";
static int port;
static const char *path_prefix = "/ws/sessions/";
static int thread_count = 1;
static int mode_idle;
static int pending_limit = 64;
static double warmup_s = 2, drain_s = 1;
static int phase_count;
static double phase_rate[MAX_PHASES], phase_secs[MAX_PHASES];
static uint64_t phase_start[MAX_PHASES], phase_mstart[MAX_PHASES], phase_mend[MAX_PHASES], phase_end[MAX_PHASES];
static int pids[MAX_PIDS], pid_count;
static struct thread *threads;
static atomic_int threads_ready, stop_all, go;
static atomic_int first_error_printed;
static struct sockaddr_in server_addr;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) { perror(what); exit(2); }

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) die("malloc");
    return p;
}

// ---- output --------------------------------------------------------------------------------

static void conn_close(struct thread *t, struct conn *c);

static int flush_out(struct thread *t, struct conn *c) {
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) { c->woff += (uint32_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
            return 0;
        }
        conn_close(t, c);
        return -1;
    }
    c->wlen = c->woff = 0;
    return 0;
}

static void send_bytes(struct thread *t, struct conn *c, const char *data, size_t n) {
    if (c->state == S_CLOSED) return;
    if (c->wlen == 0) {
        for (;;) {
            ssize_t w = write(c->fd, data, n);
            if (w == (ssize_t)n) return;
            if (w > 0) { data += w; n -= (size_t)w; continue; }
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            conn_close(t, c);
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
    if (c->wlen + n > c->wcap) {
        c->wcap = (uint32_t)((c->wlen + n) * 2);
        c->wbuf = realloc(c->wbuf, c->wcap);
        if (!c->wbuf) die("realloc");
    }
    memcpy(c->wbuf + c->wlen, data, n);
    c->wlen += (uint32_t)n;
}

static uint32_t next_mask(struct thread *t) {
    // xorshift32: masks need not be secret here, only present (RFC 6455 requires masking).
    uint32_t x = t->mask_state;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return t->mask_state = x;
}

// A masked client frame of `opcode` around `payload`.
static void send_frame(struct thread *t, struct conn *c, int opcode, const char *payload, size_t n) {
    char stack[512];
    size_t header = n < 126 ? 6 : (n < 65536 ? 8 : 14);
    char *frame = header + n <= sizeof stack ? stack : xmalloc(header + n);
    frame[0] = (char)(0x80 | opcode);
    size_t at;
    if (n < 126) { frame[1] = (char)(0x80 | n); at = 2; }
    else if (n < 65536) { frame[1] = (char)(0x80 | 126); frame[2] = (char)(n >> 8); frame[3] = (char)n; at = 4; }
    else { frame[1] = (char)(0x80 | 127); for (int i = 0; i < 8; i++) frame[2 + i] = (char)((uint64_t)n >> (56 - 8 * i)); at = 10; }
    uint32_t mask = next_mask(t);
    memcpy(frame + at, &mask, 4);
    const uint8_t *m = (const uint8_t *)(frame + at);
    at += 4;
    for (size_t i = 0; i < n; i++) frame[at + i] = (char)(payload[i] ^ m[i & 3]);
    send_bytes(t, c, frame, at + n);
    if (frame != stack) free(frame);
}

// ---- editors -------------------------------------------------------------------------------

static void send_op(struct thread *t, struct conn *c, uint64_t now) {
    char text[256];
    int payload_len = snprintf(NULL, 0, "@%llu", (unsigned long long)now);
    int n;
    if (c->doclen > 0)
        n = snprintf(text, sizeof text, "{\"type\":\"op\",\"data\":{\"revision\":%lld,\"ops\":[\"@%llu\",%d]}}",
                     c->revision, (unsigned long long)now, -c->doclen);
    else
        n = snprintf(text, sizeof text, "{\"type\":\"op\",\"data\":{\"revision\":%lld,\"ops\":[\"@%llu\"]}}",
                     c->revision, (unsigned long long)now);
    c->inflight = 1;
    c->sent_ns = now;
    c->pending_len = payload_len;
    send_frame(t, c, 1, text, (size_t)n);
}

static int current_phase(uint64_t now) {
    for (int i = 0; i < phase_count; i++)
        if (now >= phase_start[i] && now < phase_end[i]) return i;
    return -1;
}

static int measuring(int phase, uint64_t now) {
    return phase >= 0 && now >= phase_mstart[phase] && now < phase_mend[phase];
}

// Whether editors send in this phase now (warm-up and measured window, not the drain).
static int sending(int phase, uint64_t now) {
    return phase >= 0 && now >= phase_start[phase] && now < phase_mend[phase];
}

// ---- messages ------------------------------------------------------------------------------

static long long number_after(const char *text, size_t n, const char *key) {
    const char *p = memmem(text, n, key, strlen(key));
    if (!p) return -1;
    p += strlen(key);
    long long v = 0;
    int any = 0;
    while (p < text + n && *p >= '0' && *p <= '9') { v = v * 10 + (*p++ - '0'); any = 1; }
    return any ? v : -1;
}

static int starts(const char *text, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return n >= k && memcmp(text, prefix, k) == 0;
}

static void on_text(struct thread *t, struct conn *c, const char *text, size_t n) {
    uint64_t now = now_ns();
    int phase = current_phase(now);
    if (c->state == S_JOINING) {
        if (starts(text, n, "{\"type\":\"welcome\"")) {
            c->state = S_JOINED;
            long long rev = number_after(text, n, "\"revision\":");
            c->revision = rev < 0 ? 0 : rev;
            c->doclen = 0;   // sessions are created with an empty document
            t->joined++;
        } else if (starts(text, n, "{\"type\":\"error\"")) {
            t->failed++;
            if (!atomic_exchange(&first_error_printed, 1))
                fprintf(stderr, "wsload: join refused: %.*s\n", (int)(n > 300 ? 300 : n), text);
            conn_close(t, c);
        }
        return;
    }
    struct stats *s = phase >= 0 && measuring(phase, now) ? &t->phase[phase] : NULL;
    if (starts(text, n, "{\"type\":\"op\"")) {
        const char *p = memmem(text, n, "\"ops\":[\"@", 9);
        if (!p) { if (s) s->other++; return; }
        p += 9;
        uint64_t sent = 0;
        while (p < text + n && *p >= '0' && *p <= '9') sent = sent * 10 + (uint64_t)(*p++ - '0');
        if (s) {
            s->deliveries++;
            uint64_t us = now > sent ? (now - sent) / 1000 : 0;
            s->hist[us < HIST_US ? us : HIST_US - 1]++;
        }
        return;
    }
    if (c->editor && starts(text, n, "{\"type\":\"ack\"")) {
        long long rev = number_after(text, n, "\"revision\":");
        if (rev > 0) c->revision = rev;
        c->doclen = c->pending_len;
        c->inflight = 0;
        if (s) {
            s->acks++;
            uint64_t us = (now - c->sent_ns) / 1000;
            s->ack_hist[us < HIST_US ? us : HIST_US - 1]++;
        }
        if (phase >= 0 && phase_rate[phase] == 0 && sending(phase, now)) {
            send_op(t, c, now_ns());
            if (measuring(phase, now)) t->phase[phase].ops_sent++;
        }
        return;
    }
    if (starts(text, n, "{\"type\":\"error\"")) {
        if (s) s->errors++;
        if (!atomic_exchange(&first_error_printed, 1))
            fprintf(stderr, "wsload: error frame: %.*s\n", (int)(n > 300 ? 300 : n), text);
        if (c->editor) c->inflight = 0;
        return;
    }
    if (s) s->other++;
}

// Parses complete frames from `data`; returns the bytes consumed.
static size_t on_frames(struct thread *t, struct conn *c, char *data, size_t n) {
    size_t at = 0;
    while (n - at >= 2 && c->state != S_CLOSED) {
        uint8_t b0 = (uint8_t)data[at], b1 = (uint8_t)data[at + 1];
        size_t header = 2;
        uint64_t len = b1 & 0x7f;
        if (len == 126) {
            if (n - at < 4) break;
            len = ((uint64_t)(uint8_t)data[at + 2] << 8) | (uint8_t)data[at + 3];
            header = 4;
        } else if (len == 127) {
            if (n - at < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | (uint8_t)data[at + 2 + i];
            header = 10;
        }
        if (b1 & 0x80) header += 4;   // servers do not mask; tolerate it anyway
        if (n - at < header + len) break;
        char *payload = data + at + header;
        if (b1 & 0x80) {
            const uint8_t *m = (const uint8_t *)(payload - 4);
            for (uint64_t i = 0; i < len; i++) payload[i] ^= (char)m[i & 3];
        }
        int opcode = b0 & 0x0f;
        if (opcode == 1 || opcode == 0) {
            on_text(t, c, payload, (size_t)len);
        } else if (opcode == 9) {
            send_frame(t, c, 10, payload, (size_t)len);
        } else if (opcode == 8) {
            int code = len >= 2 ? ((uint8_t)payload[0] << 8 | (uint8_t)payload[1]) : 1005;
            if (!atomic_exchange(&first_error_printed, 1))
                fprintf(stderr, "wsload: server closed a connection: %d %.*s\n", code,
                        (int)(len > 2 ? len - 2 : 0), payload + 2);
            if (c->state == S_JOINED) t->closed_after_join++;
            else if (c->state == S_JOINING) t->failed++;
            conn_close(t, c);
        }
        at += header + (size_t)len;
    }
    return at;
}

static void keep(struct conn *c, const char *data, size_t n) {
    if (n > c->rcap) {
        c->rcap = (uint32_t)(n < 4096 ? 4096 : n * 2);
        char *fresh = xmalloc(c->rcap);
        if (c->rlen) memcpy(fresh, c->rbuf, c->rlen);
        free(c->rbuf);
        c->rbuf = fresh;
    }
    memmove(c->rbuf, data, n);
    c->rlen = (uint32_t)n;
}

static void on_handshake(struct thread *t, struct conn *c, char *data, size_t n) {
    char *end = memmem(data, n, "\r\n\r\n", 4);
    if (!end) { keep(c, data, n); return; }
    if (n < 12 || memcmp(data + 9, "101", 3) != 0) {
        t->failed++;
        if (!atomic_exchange(&first_error_printed, 1))
            fprintf(stderr, "wsload: upgrade refused: %.*s\n", (int)(n > 300 ? 300 : n), data);
        conn_close(t, c);
        return;
    }
    c->state = S_JOINING;
    char join[2048];
    int k = snprintf(join, sizeof join, "{\"type\":\"join\",\"data\":%s}", c->join);
    send_frame(t, c, 1, join, (size_t)k);
    size_t rest = n - (size_t)(end + 4 - data);
    c->rlen = 0;
    if (rest) {
        size_t used = on_frames(t, c, end + 4, rest);
        if (c->state != S_CLOSED && used < rest) keep(c, end + 4 + used, rest - used);
    }
}

static void on_readable(struct thread *t, struct conn *c) {
    for (;;) {
        if (c->state == S_CLOSED) return;
        ssize_t got = read(c->fd, t->buf, READ_BUF);
        if (got == 0) {
            if (c->state == S_JOINED) t->closed_after_join++;
            else if (c->state != S_CLOSED) t->failed++;
            conn_close(t, c);
            return;
        }
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (c->state == S_JOINED) t->closed_after_join++; else t->failed++;
            conn_close(t, c);
            return;
        }
        char *data = t->buf;
        size_t n = (size_t)got;
        if (c->rlen) {
            // Join the kept bytes and the new ones in the connection's buffer.
            if (c->rlen + n > c->rcap) {
                c->rcap = (uint32_t)((c->rlen + n) * 2);
                c->rbuf = realloc(c->rbuf, c->rcap);
                if (!c->rbuf) die("realloc");
            }
            memcpy(c->rbuf + c->rlen, data, n);
            n += c->rlen;
            c->rlen = 0;
            data = c->rbuf;
        }
        if (c->state == S_HANDSHAKE) {
            on_handshake(t, c, data, n);
        } else {
            size_t used = on_frames(t, c, data, n);
            if (c->state != S_CLOSED && used < n) keep(c, data + used, n - used);
            else if (data == c->rbuf && c->rcap > 65536) { free(c->rbuf); c->rbuf = NULL; c->rcap = 0; }
        }
        if (got < READ_BUF) return;
    }
}

// ---- connections -----------------------------------------------------------------------------

static void conn_close(struct thread *t, struct conn *c) {
    if (c->fd >= 0) {
        epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->state = S_CLOSED;
    c->wlen = c->woff = 0;
}

static void conn_start(struct thread *t, struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = S_CONNECTING;
    int r = connect(c->fd, (struct sockaddr *)&server_addr, sizeof server_addr);
    if (r < 0 && errno != EINPROGRESS) die("connect");
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

static void on_writable(struct thread *t, struct conn *c) {
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            t->failed++;
            if (!atomic_exchange(&first_error_printed, 1)) fprintf(stderr, "wsload: connect: %s\n", strerror(err));
            conn_close(t, c);
            return;
        }
        c->state = S_HANDSHAKE;
        char request[1024];
        int n = snprintf(request, sizeof request,
                         "GET %s%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                         path_prefix, c->session, host, port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        send_bytes(t, c, request, (size_t)n);
        return;
    }
    if (flush_out(t, c) == 0 && c->wlen == 0 && c->state != S_CLOSED) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static void poll_once(struct thread *t, int timeout_ms) {
    struct epoll_event events[256];
    int n = epoll_wait(t->epfd, events, 256, timeout_ms);
    for (int i = 0; i < n; i++) {
        struct conn *c = events[i].data.ptr;
        if (c->state == S_CLOSED) continue;
        if (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            if (c->state == S_CONNECTING || (events[i].events & EPOLLOUT)) on_writable(t, c);
        }
        if (c->state != S_CLOSED && c->state != S_CONNECTING && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
            on_readable(t, c);
    }
}

static void *thread_main(void *arg) {
    struct thread *t = arg;
    // Connect and join, at most pending_limit handshakes/joins outstanding.
    int next = 0;
    while (t->joined + t->failed < t->count) {
        int outstanding = 0;
        for (int i = 0; i < next; i++)
            if (t->conns[i]->state != S_JOINED && t->conns[i]->state != S_CLOSED) outstanding++;
        while (next < t->count && outstanding < pending_limit) { conn_start(t, t->conns[next++]); outstanding++; }
        poll_once(t, 10);
        if (atomic_load(&stop_all)) break;
    }
    atomic_fetch_add(&threads_ready, 1);
    while (!atomic_load(&go) && !atomic_load(&stop_all)) poll_once(t, 5);
    // Editors' schedules: phase i sends at phase_rate[i] ops/s, the editors spread over the interval.
    int last_phase = -2;
    while (!atomic_load(&stop_all)) {
        uint64_t now = now_ns();
        int phase = current_phase(now);
        if (phase != last_phase && phase >= 0 && phase_rate[phase] > 0) {
            uint64_t interval = (uint64_t)(1e9 / phase_rate[phase]);
            for (int i = 0, e = 0; i < t->count; i++) {
                struct conn *c = t->conns[i];
                if (!c->editor) continue;
                c->next_due = phase_start[phase] + interval * (uint64_t)(e * thread_count + t->index) / (uint64_t)(t->editors * thread_count + 1);
                e++;
            }
        }
        if (phase != last_phase && phase >= 0 && phase_rate[phase] == 0) {
            // Saturate: every idle editor starts now; acks keep them going.
            for (int i = 0; i < t->count; i++) {
                struct conn *c = t->conns[i];
                if (c->editor && c->state == S_JOINED && !c->inflight) send_op(t, c, now_ns());
            }
        }
        last_phase = phase;
        int timeout = 5;
        if (phase >= 0 && phase_rate[phase] > 0 && sending(phase, now)) {
            uint64_t interval = (uint64_t)(1e9 / phase_rate[phase]);
            for (int i = 0; i < t->count; i++) {
                struct conn *c = t->conns[i];
                if (!c->editor || c->state != S_JOINED) continue;
                if (c->next_due <= now) {
                    if (c->inflight) {
                        if (measuring(phase, now)) t->phase[phase].late++;
                    } else {
                        uint64_t at = now_ns();
                        send_op(t, c, at);
                        if (measuring(phase, at)) t->phase[phase].ops_sent++;
                    }
                    while (c->next_due <= now) c->next_due += interval;
                }
            }
            timeout = 1;
        }
        poll_once(t, timeout);
    }
    return NULL;
}

// ---- CPU time of the servers -------------------------------------------------------------------

// utime+stime of the processes in `list` (0: this process), in clock ticks.
static long long cpu_ticks_of(const int *list, int count) {
    long long total = 0;
    for (int i = 0; i < count; i++) {
        char path[64], buf[2048];
        if (list[i]) snprintf(path, sizeof path, "/proc/%d/stat", list[i]);
        else snprintf(path, sizeof path, "/proc/self/stat");
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (!p) continue;
        // After ") ": state(3) ppid(4) ... utime(14) stime(15); each space starts the next field.
        unsigned long long utime = 0, stime = 0;
        int field = 3;   // q starts at field 3 (state)
        for (char *q = p + 2; *q && field < 15; q++) {
            if (*q == ' ') {
                field++;
                if (field == 14) utime = strtoull(q + 1, NULL, 10);
                if (field == 15) stime = strtoull(q + 1, NULL, 10);
            }
        }
        total += (long long)(utime + stime);
    }
    return total;
}

static long long cpu_ticks(void) { return cpu_ticks_of(pids, pid_count); }

static long long self_ticks(void) { int self = 0; return cpu_ticks_of(&self, 1); }

static void sleep_until(uint64_t when) {
    for (;;) {
        uint64_t now = now_ns();
        if (now >= when) return;
        uint64_t left = when - now;
        struct timespec ts = {(time_t)(left / 1000000000ull), (long)(left % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
}

static double percentile(const uint64_t *hist, uint64_t total, double p) {
    if (!total) return -1;
    uint64_t rank = (uint64_t)(p * (double)total);
    if (rank >= total) rank = total - 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_US; i++) {
        seen += hist[i];
        if (seen > rank) return i + 0.5;
    }
    return HIST_US;
}

static void on_signal(int sig) { (void)sig; atomic_store(&stop_all, 1); }

int main(int argc, char **argv) {
    const char *file = NULL, *phases_text = "20:10", *pid_text = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "h:p:f:t:m:P:w:D:c:k:x:")) != -1) {
        switch (opt) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'f': file = optarg; break;
        case 't': thread_count = atoi(optarg); break;
        case 'm': mode_idle = strcmp(optarg, "idle") == 0; break;
        case 'P': phases_text = optarg; break;
        case 'w': warmup_s = atof(optarg); break;
        case 'D': drain_s = atof(optarg); break;
        case 'c': pid_text = optarg; break;
        case 'k': pending_limit = atoi(optarg); break;
        case 'x': path_prefix = optarg; break;
        default:
            fprintf(stderr, "usage: wsload -p PORT -f CONNFILE [-t THREADS] [-m fanout|idle] [-P RATE:SECS,...] [-w WARMUP] [-D DRAIN] [-c PID,...] [-k PENDING] [-x PATH_PREFIX]\n");
            return 2;
        }
    }
    if (!port || !file || thread_count < 1) { fprintf(stderr, "wsload: -p and -f are required\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    memset(&server_addr, 0, sizeof server_addr);
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &server_addr.sin_addr) != 1) { fprintf(stderr, "wsload: bad host %s\n", host); return 2; }

    if (pid_text) {
        char *copy = strdup(pid_text), *save = NULL;
        for (char *p = strtok_r(copy, ",", &save); p && pid_count < MAX_PIDS; p = strtok_r(NULL, ",", &save)) pids[pid_count++] = atoi(p);
    }
    if (!mode_idle) {
        char *copy = strdup(phases_text), *save = NULL;
        for (char *p = strtok_r(copy, ",", &save); p && phase_count < MAX_PHASES; p = strtok_r(NULL, ",", &save)) {
            phase_rate[phase_count] = atof(p);
            char *colon = strchr(p, ':');
            phase_secs[phase_count] = colon ? atof(colon + 1) : 10;
            phase_count++;
        }
    }

    // Connections, dealt to the threads in turn.
    FILE *f = fopen(file, "r");
    if (!f) die(file);
    threads = calloc((size_t)thread_count, sizeof *threads);
    int capacity = 1024, total = 0;
    struct conn **all = xmalloc(sizeof(struct conn *) * (size_t)capacity);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *role = strtok(line, " ");
        char *session = strtok(NULL, " ");
        char *join = strtok(NULL, "");
        if (!role || !session || !join) continue;
        struct conn *c = calloc(1, sizeof *c);
        c->fd = -1;
        c->editor = role[0] == 'E';
        c->session = strdup(session);
        c->join = strdup(join);
        if (total == capacity) { capacity *= 2; all = realloc(all, sizeof(struct conn *) * (size_t)capacity); }
        all[total++] = c;
    }
    fclose(f);
    for (int i = 0; i < thread_count; i++) {
        struct thread *t = &threads[i];
        t->index = i;
        t->conns = xmalloc(sizeof(struct conn *) * (size_t)(total / thread_count + 1));
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        t->buf = xmalloc(READ_BUF);
        t->mask_state = 0x9e3779b9u ^ (uint32_t)(i * 7919 + 1);
        for (int p = 0; p < phase_count; p++) {
            t->phase[p].hist = calloc(HIST_US, sizeof(uint32_t));
            t->phase[p].ack_hist = calloc(HIST_US, sizeof(uint32_t));
        }
    }
    for (int i = 0; i < total; i++) {
        struct thread *t = &threads[i % thread_count];
        t->conns[t->count++] = all[i];
        if (all[i]->editor) t->editors++;
    }

    uint64_t started = now_ns();
    for (int i = 0; i < thread_count; i++) pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]);
    while (atomic_load(&threads_ready) < thread_count && !atomic_load(&stop_all)) usleep(2000);
    uint64_t joined_at = now_ns();
    int joined = 0, failed = 0;
    for (int i = 0; i < thread_count; i++) { joined += threads[i].joined; failed += threads[i].failed; }
    double join_secs = (double)(joined_at - started) / 1e9;
    fprintf(stderr, "wsload: %d of %d connections joined in %.2f s (%d failed)\n", joined, total, join_secs, failed);

    if (mode_idle) {
        atomic_store(&go, 1);
        printf("{\"event\":\"ready\",\"connections\":%d,\"joined\":%d,\"failed\":%d,\"join_seconds\":%.3f}\n", total, joined, failed, join_secs);
        fflush(stdout);
        char sink[256];
        while (!atomic_load(&stop_all) && fread(sink, 1, sizeof sink, stdin) > 0) {}
        atomic_store(&stop_all, 1);
        for (int i = 0; i < thread_count; i++) pthread_join(threads[i].tid, NULL);
        int closed = 0;
        for (int i = 0; i < thread_count; i++) closed += threads[i].closed_after_join;
        printf("{\"event\":\"done\",\"connections\":%d,\"joined\":%d,\"failed\":%d,\"closed_by_server\":%d}\n", total, joined, failed, closed);
        return 0;
    }

    // The phases' times, fixed before the threads start sending.
    uint64_t at = now_ns() + 100000000ull;
    for (int i = 0; i < phase_count; i++) {
        phase_start[i] = at;
        phase_mstart[i] = at + (uint64_t)(warmup_s * 1e9);
        phase_mend[i] = phase_mstart[i] + (uint64_t)(phase_secs[i] * 1e9);
        phase_end[i] = phase_mend[i] + (uint64_t)(drain_s * 1e9);
        at = phase_end[i];
    }
    atomic_store(&go, 1);
    long long ticks_before[MAX_PHASES], ticks_after[MAX_PHASES], self_before[MAX_PHASES], self_after[MAX_PHASES];
    long long each_before[MAX_PHASES][MAX_PIDS], each_after[MAX_PHASES][MAX_PIDS];
    double wall[MAX_PHASES];
    for (int i = 0; i < phase_count; i++) {
        sleep_until(phase_mstart[i]);
        uint64_t t0 = now_ns();
        ticks_before[i] = cpu_ticks();
        self_before[i] = self_ticks();
        for (int k = 0; k < pid_count; k++) each_before[i][k] = cpu_ticks_of(&pids[k], 1);
        sleep_until(phase_mend[i]);
        uint64_t t1 = now_ns();
        ticks_after[i] = cpu_ticks();
        self_after[i] = self_ticks();
        for (int k = 0; k < pid_count; k++) each_after[i][k] = cpu_ticks_of(&pids[k], 1);
        wall[i] = (double)(t1 - t0) / 1e9;
        fprintf(stderr, "wsload: phase %d (rate %g) measured\n", i, phase_rate[i]);
    }
    sleep_until(phase_end[phase_count - 1]);
    atomic_store(&stop_all, 1);
    for (int i = 0; i < thread_count; i++) pthread_join(threads[i].tid, NULL);

    int closed = 0, editors = 0;
    for (int i = 0; i < thread_count; i++) { closed += threads[i].closed_after_join; editors += threads[i].editors; }
    long tck = sysconf(_SC_CLK_TCK);
    uint64_t *hist = calloc(HIST_US, sizeof(uint64_t)), *ack = calloc(HIST_US, sizeof(uint64_t));
    printf("{\"connections\":%d,\"joined\":%d,\"failed\":%d,\"closed_by_server\":%d,\"editors\":%d,\"join_seconds\":%.3f,\"threads\":%d,\"phases\":[",
           total, joined, failed, closed, editors, join_secs, thread_count);
    for (int p = 0; p < phase_count; p++) {
        memset(hist, 0, HIST_US * sizeof(uint64_t));
        memset(ack, 0, HIST_US * sizeof(uint64_t));
        uint64_t deliveries = 0, ops = 0, acks = 0, other = 0, late = 0, errors = 0, nack = 0;
        for (int i = 0; i < thread_count; i++) {
            struct stats *s = &threads[i].phase[p];
            deliveries += s->deliveries; ops += s->ops_sent; acks += s->acks; other += s->other; late += s->late; errors += s->errors;
            for (int b = 0; b < HIST_US; b++) { hist[b] += s->hist[b]; ack[b] += s->ack_hist[b]; nack += s->ack_hist[b]; }
        }
        double cpu_s = (double)(ticks_after[p] - ticks_before[p]) / (double)tck;
        printf("%s{\"rate\":%g,\"seconds\":%.3f,\"ops_sent\":%llu,\"acks\":%llu,\"late\":%llu,\"errors\":%llu,\"other\":%llu,"
               "\"deliveries\":%llu,\"deliveries_per_s\":%.1f,\"ops_per_s\":%.1f,"
               "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},"
               "\"ack_us\":{\"p50\":%.1f,\"p99\":%.1f},\"server_cpu_s\":%.3f,\"server_cpu_us_per_delivery\":%.3f,\"loadgen_cpu_s\":%.3f",
               p ? "," : "", phase_rate[p], wall[p], (unsigned long long)ops, (unsigned long long)acks, (unsigned long long)late,
               (unsigned long long)errors, (unsigned long long)other, (unsigned long long)deliveries, (double)deliveries / wall[p],
               (double)acks / wall[p],
               percentile(hist, deliveries, 0.50), percentile(hist, deliveries, 0.90), percentile(hist, deliveries, 0.99),
               percentile(hist, deliveries, 0.999), percentile(hist, deliveries, 1.0),
               percentile(ack, nack, 0.50), percentile(ack, nack, 0.99),
               cpu_s, deliveries ? cpu_s * 1e6 / (double)deliveries : -1.0,
               (double)(self_after[p] - self_before[p]) / (double)tck);
        // The same CPU time per process, in the order of -c.
        printf(",\"server_cpu_s_by_pid\":[");
        for (int k = 0; k < pid_count; k++)
            printf("%s%.3f", k ? "," : "", (double)(each_after[p][k] - each_before[p][k]) / (double)tck);
        printf("]}");
    }
    printf("]}\n");
    return 0;
}
