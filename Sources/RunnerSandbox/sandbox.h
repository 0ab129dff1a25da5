// The descriptors the launcher hands to the supervisor, by number (one table for both halves).
//
//   0, 1, 2  the program's stdin, stdout, stderr (pipes of the runner)
//   3        the job spec (read, then closed)
//   4        the report (close-on-exec in the supervisor)
//   5...14   the job cgroup's control files, opened by the launcher as root (the supervisor
//            cannot open them: they are root's, and /sys is not in the sandbox); absent when the
//            runner has no cgroup (then the supervisor polls /proc instead)
//   15       the seccomp program, read and closed by bubblewrap
//
// The supervisor closes everything else at start, and every program it starts sees 0, 1, 2 only.
#ifndef CODEINTERVIEW_SANDBOX_H
#define CODEINTERVIEW_SANDBOX_H

#define SPEC_FD 3
#define REPORT_FD 4

enum {
    CG_MEMORY_PROCS = 5,      // memory/cgroup.procs: a step's child writes "0" to join
    CG_MEMORY_LIMIT = 6,      // memory.limit_in_bytes
    CG_MEMSW_LIMIT = 7,       // memory.memsw.limit_in_bytes (absent without swap accounting)
    CG_MEMORY_USAGE = 8,      // memory.usage_in_bytes
    CG_MEMORY_PEAK = 9,       // memory.max_usage_in_bytes (written 0 at each step)
    CG_MEMORY_OOM = 10,       // memory.oom_control ("oom_kill N")
    CG_PIDS_PROCS = 11,       // pids/cgroup.procs
    CG_PIDS_MAX = 12,         // pids.max
    CG_CPU_PROCS = 13,        // cpuacct/cgroup.procs
    CG_CPU_USAGE = 14,        // cpuacct.usage (nanoseconds of the whole tree, reaped or not)
    CG_LAST = 14,
    SECCOMP_FD = 15,
};

#endif
