// The pseudo-terminal of an interactive step (STDIN_PTY, see main.c).
//
// The supervisor opens a pty from the sandbox's own devpts instance (bubblewrap's --dev mounts a
// fresh one, `newinstance`: nothing of the host's /dev/pts is visible or reachable), the step's
// child makes its slave its controlling terminal (setsid, then TIOCSCTTY) as 0, 1 and 2, and the
// supervisor relays:
//   - the pty master's output to its own fd 1 (the runner's stdout pipe, streamed as today),
//   - frames from its fd 0 (the runner's stdin pipe) to the master. A frame is one kind byte, a
//     4-byte big-endian length and that many bytes:
//       'd'  bytes typed into the terminal (0x03, 0x04 reach the line discipline as Ctrl-C and
//            Ctrl-D, exactly as a key press would)
//       'w'  a window size: cols, rows as 2-byte big-endian numbers (TIOCSWINSZ: the foreground
//            process group gets SIGWINCH)
//       'h'  hang up: SIGHUP to the terminal's foreground process group, then the step ends
// The runner's side stays two pipes; the program sees a terminal and nothing else.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "pty.h"

// Bytes waiting for the master (the program is not reading): at most this much, then the
// runner's pipe is not read until the program takes some.
#define PTY_PENDING_MAX (256u << 10)
#define PTY_FRAME_MAX (64u << 10)

int pty_open(struct pty *p, int cols, int rows, char *error, size_t error_size) {
    memset(p, 0, sizeof *p);
    p->master = -1;
    p->control_open = 1;
    p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (p->master < 0) {
        snprintf(error, error_size, "posix_openpt: %s", strerror(errno));
        return -1;
    }
    if (grantpt(p->master) != 0 || unlockpt(p->master) != 0 || ptsname_r(p->master, p->slave_path, sizeof p->slave_path) != 0) {
        snprintf(error, error_size, "preparing the pty: %s", strerror(errno));
        close(p->master);
        p->master = -1;
        return -1;
    }
    struct winsize size = {(unsigned short)(rows > 0 ? rows : 24), (unsigned short)(cols > 0 ? cols : 80), 0, 0};
    ioctl(p->master, TIOCSWINSZ, &size);
    fcntl(p->master, F_SETFL, O_NONBLOCK);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    return 0;
}

// In the child, before close_range: a session of its own whose controlling terminal is the pty.
int pty_child(const struct pty *p) {
    if (setsid() < 0) return -1;
    int slave = open(p->slave_path, O_RDWR);
    if (slave < 0) return -1;
    if (ioctl(slave, TIOCSCTTY, 0) != 0) return -1;
    if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0) return -1;
    if (slave > 2) close(slave);
    return 0;
}

static void pty_write_pending(struct pty *p) {
    while (p->pending_length > 0) {
        ssize_t n = write(p->master, p->pending, p->pending_length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        memmove(p->pending, p->pending + n, p->pending_length - (size_t)n);
        p->pending_length -= (size_t)n;
    }
}

static int pty_frame(struct pty *p, char kind, const unsigned char *payload, size_t length) {
    if (kind == 'd') {
        if (p->pending_length + length > PTY_PENDING_MAX) length = PTY_PENDING_MAX - p->pending_length;
        if (!p->pending) p->pending = malloc(PTY_PENDING_MAX);
        if (!p->pending) return -1;
        memcpy(p->pending + p->pending_length, payload, length);
        p->pending_length += length;
        pty_write_pending(p);
    } else if (kind == 'w' && length == 4) {
        struct winsize size = {(unsigned short)(payload[2] << 8 | payload[3]), (unsigned short)(payload[0] << 8 | payload[1]), 0, 0};
        if (size.ws_col > 0 && size.ws_row > 0) ioctl(p->master, TIOCSWINSZ, &size);
    } else if (kind == 'h') {
        pid_t group = tcgetpgrp(p->master);
        if (group > 1) kill(-group, SIGHUP);
        return 1;
    }
    return 0;
}

int pty_read_control(struct pty *p) {
    int hangup = 0;
    while (p->control_open && p->pending_length < PTY_PENDING_MAX) {
        ssize_t n = read(0, p->frame + p->frame_length, sizeof p->frame - p->frame_length);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) { p->control_open = 0; break; }
        p->frame_length += (size_t)n;
        // Every whole frame in the buffer.
        size_t at = 0;
        while (p->frame_length - at >= 5) {
            const unsigned char *f = p->frame + at;
            size_t length = (size_t)f[1] << 24 | (size_t)f[2] << 16 | (size_t)f[3] << 8 | f[4];
            if (length > PTY_FRAME_MAX) { p->control_open = 0; return -1; }
            if (p->frame_length - at < 5 + length) break;
            int r = pty_frame(p, (char)f[0], f + 5, length);
            if (r < 0) return -1;
            if (r > 0) hangup = 1;
            at += 5 + length;
        }
        memmove(p->frame, p->frame + at, p->frame_length - at);
        p->frame_length -= at;
    }
    return hangup;
}

int pty_wants_control(const struct pty *p) { return p->control_open && p->pending_length == 0; }
int pty_wants_write(const struct pty *p) { return p->pending_length > 0; }
void pty_flush_input(struct pty *p) { pty_write_pending(p); }

ssize_t pty_relay_output(struct pty *p) {
    char buffer[16384];
    ssize_t total = 0;
    for (;;) {
        ssize_t n = read(p->master, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return total;   // EAGAIN, or EIO: no slave left open
        size_t done = 0;
        while (done < (size_t)n) {
            ssize_t w = write(1, buffer + done, (size_t)n - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return -1;   // the runner stopped reading (the output limit)
            done += (size_t)w;
        }
        total += n;
    }
}

void pty_close(struct pty *p) {
    if (p->master >= 0) close(p->master);
    p->master = -1;
    free(p->pending);
    p->pending = NULL;
    p->pending_length = 0;
}
