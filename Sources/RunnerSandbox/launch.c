// codeinterview-sandbox launch: what runs between the runner and bubblewrap, on the host side.
//
//   codeinterview-sandbox launch [--uid N --gid N]
//       [--cgroup-memory DIR --cgroup-pids DIR --cgroup-cpuacct DIR]
//       [--tmpfs DIR:BYTES:INODES]... [--seccomp] -- BWRAP ARGS...
//
// The runner starts it with the sandbox's stdio, spec and report on fds 0-4 (sandbox.h). It
//   1. closes every other descriptor it inherited (a library's socket without close-on-exec
//      must not reach the sandbox),
//   2. with --tmpfs (root only): enters a private mount namespace of its own and mounts a tmpfs
//      with a size and an inode cap on each DIR, owned by --uid; bubblewrap binds them as the
//      sandbox's /work, /tmp and /dev/shm, and they vanish with the sandbox's last process,
//   3. with --cgroup-* (root only): makes the job slot's cgroup directories (v1 memory, pids,
//      cpuacct) and opens their control files onto fds 5-14 for the supervisor, which moves
//      each step's child into them and sets each step's limits,
//   4. with --seccomp: builds the seccomp filter (libseccomp) onto fd 15 (bubblewrap loads it),
//   5. drops to --uid/--gid (no supplementary groups) and execs bubblewrap.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <linux/close_range.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "seccomp_filter.h"

#define MAX_TMPFS 8

static void die(const char *fmt, ...) {
    // stderr is the sandbox's stderr pipe: the runner logs it when no report arrives.
    char message[4096];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    dprintf(2, "codeinterview-sandbox launch: %s\n", message);
    _exit(125);
}

// Opens DIR/NAME onto descriptor `target` (not close-on-exec: it must cross into the sandbox).
static void open_control(const char *dir, const char *name, int flags, int target, int optional) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) {
        if (optional && errno == ENOENT) return;
        die("opening %s: %s", path, strerror(errno));
    }
    if (fd != target) {
        if (dup2(fd, target) < 0) die("dup2 %s: %s", path, strerror(errno));
        close(fd);
    } else {
        fcntl(fd, F_SETFD, 0);
    }
}

static void make_cgroup(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) die("creating the cgroup %s: %s", dir, strerror(errno));
}

int launch_main(int argc, char **argv) {
    // Nothing but the five descriptors of the sandbox goes further.
    if (syscall(SYS_close_range, 5U, ~0U, 0) != 0) {
        for (int fd = 5; fd < 65536; fd++) close(fd);
    }
    long uid = -1, gid = -1;
    const char *memory = NULL, *pids = NULL, *cpuacct = NULL;
    char *tmpfs[MAX_TMPFS];
    int tmpfs_count = 0, seccomp = 0, i = 2;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--")) { i++; break; }
        if (!strcmp(a, "--seccomp")) { seccomp = 1; continue; }
        if (!value) die("%s needs a value", a);
        if (!strcmp(a, "--uid")) uid = atol(value);
        else if (!strcmp(a, "--gid")) gid = atol(value);
        else if (!strcmp(a, "--cgroup-memory")) memory = value;
        else if (!strcmp(a, "--cgroup-pids")) pids = value;
        else if (!strcmp(a, "--cgroup-cpuacct")) cpuacct = value;
        else if (!strcmp(a, "--tmpfs") && tmpfs_count < MAX_TMPFS) tmpfs[tmpfs_count++] = (char *)value;
        else die("unknown option %s", a);
        i++;
    }
    if (i >= argc) die("no bubblewrap command after --");

    if (tmpfs_count) {
        // A mount namespace of this launch alone: the mounts are nobody else's and need no cleanup.
        if (unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS): %s", strerror(errno));
        if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("making / private: %s", strerror(errno));
        for (int t = 0; t < tmpfs_count; t++) {
            char *spec = tmpfs[t];
            char *bytes = strchr(spec, ':');
            char *inodes = bytes ? strchr(bytes + 1, ':') : NULL;
            if (!bytes || !inodes) die("--tmpfs %s: want DIR:BYTES:INODES", spec);
            *bytes++ = 0;
            *inodes++ = 0;
            char options[256];
            snprintf(options, sizeof options, "size=%s,nr_inodes=%s,mode=0755,uid=%ld,gid=%ld", bytes, inodes,
                     uid < 0 ? 0L : uid, gid < 0 ? 0L : gid);
            if (mount("tmpfs", spec, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) die("mounting a tmpfs on %s: %s", spec, strerror(errno));
        }
    }

    if (memory && pids && cpuacct) {
        make_cgroup(memory);
        make_cgroup(pids);
        make_cgroup(cpuacct);
        open_control(memory, "cgroup.procs", O_WRONLY, CG_MEMORY_PROCS, 0);
        open_control(memory, "memory.limit_in_bytes", O_WRONLY, CG_MEMORY_LIMIT, 0);
        open_control(memory, "memory.memsw.limit_in_bytes", O_WRONLY, CG_MEMSW_LIMIT, 1);
        open_control(memory, "memory.usage_in_bytes", O_RDONLY, CG_MEMORY_USAGE, 0);
        open_control(memory, "memory.max_usage_in_bytes", O_RDWR, CG_MEMORY_PEAK, 0);
        open_control(memory, "memory.oom_control", O_RDONLY, CG_MEMORY_OOM, 0);
        open_control(pids, "cgroup.procs", O_WRONLY, CG_PIDS_PROCS, 0);
        open_control(pids, "pids.max", O_WRONLY, CG_PIDS_MAX, 0);
        open_control(cpuacct, "cgroup.procs", O_WRONLY, CG_CPU_PROCS, 0);
        open_control(cpuacct, "cpuacct.usage", O_RDONLY, CG_CPU_USAGE, 0);
    } else if (memory || pids || cpuacct) {
        die("--cgroup-memory, --cgroup-pids and --cgroup-cpuacct go together");
    }

    if (seccomp) {
        int fd = seccomp_program_fd();
        if (fd < 0) die("building the seccomp filter: %s", strerror(-fd));
        if (fd != SECCOMP_FD) {
            if (dup2(fd, SECCOMP_FD) < 0) die("dup2 (seccomp): %s", strerror(errno));
            close(fd);
        } else {
            fcntl(fd, F_SETFD, 0);
        }
    }

    if (gid >= 0) {
        if (setgroups(0, NULL) != 0 && errno != EPERM) die("setgroups: %s", strerror(errno));
        if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0) die("setgid: %s", strerror(errno));
    }
    if (uid >= 0 && setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) die("setuid: %s", strerror(errno));
    execv(argv[i], argv + i);
    die("starting %s: %s", argv[i], strerror(errno));
    return 125;
}
