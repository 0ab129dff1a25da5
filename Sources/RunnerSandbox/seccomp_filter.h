#ifndef CODEINTERVIEW_SECCOMP_FILTER_H
#define CODEINTERVIEW_SECCOMP_FILTER_H

// The sandbox's seccomp program (classic BPF, as bubblewrap's --seccomp reads it) in a memfd
// positioned at its start; -errno on failure.
int seccomp_program_fd(void);

#endif
