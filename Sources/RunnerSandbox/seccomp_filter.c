// The sandbox's seccomp filter: what Docker's default profile keeps from containers, built with
// libseccomp and loaded by bubblewrap (--seccomp) right before it starts the supervisor, so it
// holds for the supervisor and for everything it starts. Denied calls fail with EPERM (clone3
// with ENOSYS, so that glibc falls back to clone, whose flags can be checked); the system calls
// of another ABI (i386, x32) kill the process.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "seccomp_filter.h"

// Refused outright. Names this libseccomp or architecture does not know are skipped.
static const char *const denied[] = {
    // the kernel keyring (shared by every process of a uid)
    "add_key", "keyctl", "request_key",
    // attack surface without a use in a program run here
    "userfaultfd", "perf_event_open", "bpf", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "memfd_secret", "fanotify_init", "lookup_dcookie", "open_by_handle_at", "name_to_handle_at",
    // other processes' memory
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise",
    // mounts and namespaces
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "unshare", "setns",
    // the kernel itself: modules, kexec, reboot, swap, accounting, quotas, the log, I/O ports
    "init_module", "finit_module", "delete_module", "create_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "iopl", "ioperm",
    "vhangup", "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "get_kernel_syms", "query_module",
    "vm86", "vm86old", "migrate_pages", "move_pages",
    // clocks and names of the machine
    "settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64", "adjtimex",
    "sethostname", "setdomainname",
};

// clone flags that make a namespace.
static const unsigned long namespace_flags[] = {
    CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
#ifdef CLONE_NEWTIME
    CLONE_NEWTIME,
#endif
};

// personality(2) may ask for what Docker allows, PER_LINUX (0), PER_LINUX32 (0x8), UNAME26
// (0x20000) or both; any other flag (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...) is refused, one
// rule per flag bit. (Docker also lets the query 0xffffffff through; every bit is set in it, so
// it is refused here.)
#define PERSONALITY_ALLOWED 0x20008UL

int seccomp_program_fd(void) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return -ENOMEM;
    // A binary tree of system call numbers instead of a list: every system call of the program
    // passes through the filter.
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (size_t i = 0; rc == 0 && i < sizeof denied / sizeof denied[0]; i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr == __NR_SCMP_ERROR || nr < 0) continue;
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    // Sockets: only AF_UNIX (no network namespace is all there is, but AF_VSOCK, AF_NETLINK,
    // packet, raw and the rest reach the host's kernel directly).
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
    for (size_t i = 0; rc == 0 && i < sizeof namespace_flags / sizeof namespace_flags[0]; i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, namespace_flags[i], namespace_flags[i]));
    }
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    // Terminals: TIOCSTI pushes bytes into a terminal's input as if typed (on the run's own pty a
    // program could type at its own shell, on any other it would be an escape), TIOCLINUX reaches
    // the virtual console. The command is an int: compared on its low 32 bits.
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCSTI));
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCLINUX));
    for (int bit = 0; rc == 0 && bit < 32; bit++) {
        unsigned long flag = 1UL << bit;
        if (flag & PERSONALITY_ALLOWED) continue;
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    }
    int fd = -1;
    if (rc == 0) {
        fd = memfd_create("codeinterview-seccomp", MFD_CLOEXEC);
        if (fd < 0) rc = -errno;
    }
    if (rc == 0) rc = seccomp_export_bpf(ctx, fd);
    if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0) rc = -errno;
    seccomp_release(ctx);
    if (rc != 0) {
        if (fd >= 0) close(fd);
        return rc < 0 ? rc : -EINVAL;
    }
    return fd;
}
