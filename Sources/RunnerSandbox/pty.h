// The pseudo-terminal of an interactive step: see pty.c.
#ifndef CODEINTERVIEW_PTY_H
#define CODEINTERVIEW_PTY_H

#include <stddef.h>
#include <sys/types.h>

struct pty {
    int master;
    char slave_path[64];
    int control_open;             // fd 0 (the runner's frames) not at EOF yet
    unsigned char frame[70000];   // a partial frame from fd 0
    size_t frame_length;
    unsigned char *pending;       // typed bytes the master has not taken yet
    size_t pending_length;
};

int pty_open(struct pty *p, int cols, int rows, char *error, size_t error_size);
int pty_child(const struct pty *p);
// Reads the runner's frames; 1 when a hang-up was asked for, -1 on a malformed frame.
int pty_read_control(struct pty *p);
int pty_wants_control(const struct pty *p);
int pty_wants_write(const struct pty *p);
void pty_flush_input(struct pty *p);
// Relays what the master holds to fd 1; the bytes relayed, -1 when fd 1 is gone.
ssize_t pty_relay_output(struct pty *p);
void pty_close(struct pty *p);

#endif
