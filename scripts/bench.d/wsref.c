// wsref: the WebSocket reference of scripts/bench: the least a server can do for the same protocol.
//
//   wsref -p PORT
//
// One epoll loop in C, no Redis, no JSON parser. It upgrades any path (RFC 6455 handshake with
// libcrypto's SHA-1); each path is a room. Text frames are told apart by their first bytes:
// {"type":"join" -> "welcome" and the connection joins its room; {"type":"op" -> the room's
// revision goes up, the sender gets "ack", and one frame {"type":"op","data":{"revision":N,
// "ops":<the sender's ops>,"user_id":...,"name":...,"color":...},"timestamp":...} is encoded once and
// written to every other member (what the gateway does, minus Redis); {"type":"ping" -> "pong".
// Pings get pongs, closes are echoed. Writes the socket does not take wait in a per-connection
// buffer. SIGTERM or SIGINT stops it.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define READ_BUF (256 * 1024)
#define BUCKETS 16384

struct room;

struct conn {
    int fd;
    int upgraded, dead;
    struct room *room;
    struct conn *next_dead;
    int member_index;                // in room->members, or -1
    char *rbuf;
    uint32_t rlen, rcap;
    char *wbuf;
    uint32_t wlen, woff, wcap;
};

struct room {
    char *path;
    struct room *next;
    struct conn **members;
    int count, cap;
    long long revision;
};

static struct room *rooms[BUCKETS];
static int epfd;
static char readbuf[READ_BUF];
static volatile sig_atomic_t stopping;
static struct conn *graveyard;       // closed in this epoll batch, freed after it

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) { perror("malloc"); exit(2); }
    return p;
}

static struct room *room_for(const char *path, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)path[i]) * 16777619u;
    struct room **slot = &rooms[h % BUCKETS];
    for (struct room *r = *slot; r; r = r->next)
        if (strlen(r->path) == n && memcmp(r->path, path, n) == 0) return r;
    struct room *r = calloc(1, sizeof *r);
    r->path = strndup(path, n);
    r->next = *slot;
    *slot = r;
    return r;
}

static void room_leave(struct conn *c) {
    struct room *r = c->room;
    if (!r || c->member_index < 0) return;
    struct conn *last = r->members[--r->count];
    r->members[c->member_index] = last;
    last->member_index = c->member_index;
    c->member_index = -1;
}

static void conn_close(struct conn *c) {
    if (c->dead) return;
    room_leave(c);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->dead = 1;
    c->next_dead = graveyard;
    graveyard = c;
}

static void bury(void) {
    while (graveyard) {
        struct conn *c = graveyard;
        graveyard = c->next_dead;
        free(c->rbuf);
        free(c->wbuf);
        free(c);
    }
}

// Writes what the socket takes; queues the rest. Returns -1 when the connection was closed.
static int send_bytes(struct conn *c, const char *data, size_t n) {
    if (c->wlen == 0) {
        for (;;) {
            ssize_t w = write(c->fd, data, n);
            if (w == (ssize_t)n) return 0;
            if (w > 0) { data += w; n -= (size_t)w; continue; }
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && errno == EAGAIN) break;
            conn_close(c);
            return -1;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
    if (c->wlen + n > c->wcap) {
        c->wcap = (uint32_t)((c->wlen + n) * 2);
        c->wbuf = realloc(c->wbuf, c->wcap);
    }
    memcpy(c->wbuf + c->wlen, data, n);
    c->wlen += (uint32_t)n;
    return 0;
}

// An unmasked server frame; returns its length in `out` (which must hold n + 10).
static size_t frame(char *out, int opcode, const char *payload, size_t n) {
    size_t at;
    out[0] = (char)(0x80 | opcode);
    if (n < 126) { out[1] = (char)n; at = 2; }
    else if (n < 65536) { out[1] = 126; out[2] = (char)(n >> 8); out[3] = (char)n; at = 4; }
    else { out[1] = 127; for (int i = 0; i < 8; i++) out[2 + i] = (char)((uint64_t)n >> (56 - 8 * i)); at = 10; }
    memcpy(out + at, payload, n);
    return at + n;
}

static int send_text(struct conn *c, const char *text, size_t n) {
    char stack[1024];
    char *out = n + 10 <= sizeof stack ? stack : xmalloc(n + 10);
    int r = send_bytes(c, out, frame(out, 1, text, n));
    if (out != stack) free(out);
    return r;
}

static long long unix_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int starts(const char *text, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return n >= k && memcmp(text, prefix, k) == 0;
}

// Returns -1 when the connection was closed.
static int on_text(struct conn *c, const char *text, size_t n) {
    char out[2048];
    if (starts(text, n, "{\"type\":\"join\"")) {
        struct room *r = c->room;
        if (c->member_index < 0) {
            if (r->count == r->cap) {
                r->cap = r->cap ? r->cap * 2 : 4;
                r->members = realloc(r->members, sizeof(struct conn *) * (size_t)r->cap);
            }
            c->member_index = r->count;
            r->members[r->count++] = c;
        }
        int k = snprintf(out, sizeof out, "{\"type\":\"welcome\",\"data\":{\"session_id\":\"%s\",\"code\":\"\",\"revision\":%lld},\"timestamp\":%lld}",
                         r->path, r->revision, unix_ms());
        return send_text(c, out, (size_t)k);
    }
    if (starts(text, n, "{\"type\":\"op\"") && c->member_index >= 0) {
        struct room *r = c->room;
        const char *ops = memmem(text, n, "\"ops\":", 6);
        const char *end = ops ? memchr(ops, ']', n - (size_t)(ops - text)) : NULL;
        if (!ops || !end) return send_text(c, "{\"type\":\"error\",\"data\":{\"code\":\"invalid\"}}", 42);
        long long revision = ++r->revision;
        int k = snprintf(out, sizeof out, "{\"type\":\"op\",\"data\":{\"revision\":%lld,%.*s,\"user_id\":\"u_0123456789abcdef\",\"name\":\"Editor\",\"color\":\"#c32222\"},\"timestamp\":%lld}",
                         revision, (int)(end + 1 - ops), ops, unix_ms());
        char framed[2100];
        size_t length = frame(framed, 1, out, (size_t)k);
        // Encode once, write the same bytes to every other member (a member that fails is
        // closed, which swaps the last member into its place: walk backwards).
        for (int i = r->count - 1; i >= 0; i--) {
            if (i >= r->count) continue;
            struct conn *m = r->members[i];
            if (m != c) send_bytes(m, framed, length);
        }
        k = snprintf(out, sizeof out, "{\"type\":\"ack\",\"data\":{\"revision\":%lld},\"timestamp\":%lld}", revision, unix_ms());
        return send_text(c, out, (size_t)k);
    }
    if (starts(text, n, "{\"type\":\"ping\"")) {
        int k = snprintf(out, sizeof out, "{\"type\":\"pong\",\"data\":{},\"timestamp\":%lld}", unix_ms());
        return send_text(c, out, (size_t)k);
    }
    return 0;
}

static const char *header_value(const char *request, size_t n, const char *name, size_t *length) {
    size_t k = strlen(name);
    for (const char *p = request; p && p < request + n; ) {
        const char *eol = memmem(p, n - (size_t)(p - request), "\r\n", 2);
        if (!eol) return NULL;
        if ((size_t)(eol - p) > k + 1 && strncasecmp(p, name, k) == 0 && p[k] == ':') {
            const char *v = p + k + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            *length = (size_t)(eol - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

// Returns bytes consumed, or -1 when the connection was closed.
static long on_data(struct conn *c, char *data, size_t n) {
    if (!c->upgraded) {
        char *end = memmem(data, n, "\r\n\r\n", 4);
        if (!end) return n > 16384 ? (conn_close(c), -1) : 0;
        size_t keylen = 0;
        const char *key = header_value(data, (size_t)(end + 2 - data), "Sec-WebSocket-Key", &keylen);
        char *path = memchr(data, ' ', (size_t)(end - data));
        char *path_end = path ? memchr(path + 1, ' ', (size_t)(end - path - 1)) : NULL;
        if (!key || keylen > 64 || !path_end) {
            const char *bad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            send_bytes(c, bad, strlen(bad));
            conn_close(c);
            return -1;
        }
        char material[128];
        memcpy(material, key, keylen);
        memcpy(material + keylen, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
        unsigned char digest[SHA_DIGEST_LENGTH];
        SHA1((unsigned char *)material, keylen + 36, digest);
        char accept[64];
        EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
        char response[256];
        int k = snprintf(response, sizeof response,
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
        c->room = room_for(path + 1, (size_t)(path_end - path - 1));
        c->upgraded = 1;
        if (send_bytes(c, response, (size_t)k) < 0) return -1;
        size_t used = (size_t)(end + 4 - data);
        long more = on_data(c, end + 4, n - used);
        return more < 0 ? -1 : (long)used + more;
    }
    size_t at = 0;
    while (n - at >= 2) {
        uint8_t b0 = (uint8_t)data[at], b1 = (uint8_t)data[at + 1];
        uint64_t len = b1 & 0x7f;
        size_t header = 2;
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
        if (!(b1 & 0x80) || len > (1u << 20)) { conn_close(c); return -1; }   // clients must mask
        header += 4;
        if (n - at < header + len) break;
        char *payload = data + at + header;
        const uint8_t *m = (const uint8_t *)(payload - 4);
        for (uint64_t i = 0; i < len; i++) payload[i] ^= (char)m[i & 3];
        int opcode = b0 & 0x0f;
        int r = 0;
        if (opcode == 1) {
            r = on_text(c, payload, (size_t)len);
        } else if (opcode == 9) {
            char out[140];
            r = send_bytes(c, out, frame(out, 10, payload, len > 125 ? 125 : (size_t)len));
        } else if (opcode == 8) {
            char out[16];
            send_bytes(c, out, frame(out, 8, payload, len >= 2 ? 2 : 0));
            conn_close(c);
            return -1;
        }
        if (r < 0) return -1;
        at += header + (size_t)len;
    }
    return (long)at;
}

static void on_readable(struct conn *c) {
    for (;;) {
        ssize_t got = read(c->fd, readbuf, READ_BUF);
        if (got == 0) { conn_close(c); return; }
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            conn_close(c);
            return;
        }
        char *data = readbuf;
        size_t n = (size_t)got;
        if (c->rlen) {
            if (c->rlen + n > c->rcap) {
                c->rcap = (uint32_t)((c->rlen + n) * 2);
                c->rbuf = realloc(c->rbuf, c->rcap);
            }
            memcpy(c->rbuf + c->rlen, data, n);
            n += c->rlen;
            c->rlen = 0;
            data = c->rbuf;
        }
        long used = on_data(c, data, n);
        if (used < 0) return;
        if ((size_t)used < n) {
            size_t rest = n - (size_t)used;
            if (rest > c->rcap) {
                char *fresh = xmalloc(rest * 2);
                memcpy(fresh, data + used, rest);
                free(c->rbuf);
                c->rbuf = fresh;
                c->rcap = (uint32_t)(rest * 2);
            } else {
                memmove(c->rbuf, data + used, rest);
            }
            c->rlen = (uint32_t)rest;
        } else if (c->rbuf) {
            free(c->rbuf);
            c->rbuf = NULL;
            c->rcap = 0;
        }
        if (got < READ_BUF) return;
    }
}

static void on_writable(struct conn *c) {
    while (c->woff < c->wlen) {
        ssize_t w = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (w > 0) { c->woff += (uint32_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return;
        conn_close(c);
        return;
    }
    c->wlen = c->woff = 0;
    free(c->wbuf);
    c->wbuf = NULL;
    c->wcap = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void on_signal(int sig) { (void)sig; stopping = 1; }

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], "-p")) port = atoi(argv[i + 1]);
    if (!port) { fprintf(stderr, "usage: wsref -p PORT\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 4096) < 0) { perror("wsref: listen"); return 1; }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);
    struct epoll_event events[512];
    while (!stopping) {
        int n = epoll_wait(epfd, events, 512, 200);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *fresh = calloc(1, sizeof *fresh);
                    fresh->fd = fd;
                    fresh->member_index = -1;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = fresh};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            if (c->dead) continue;   // closed earlier in this batch (a failed broadcast write)
            if (events[i].events & EPOLLOUT) on_writable(c);
            if (!c->dead && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c);
        }
        bury();
    }
    return 0;
}
