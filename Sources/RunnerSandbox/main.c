// codeinterview-sandbox: the supervisor that runs as PID 1 inside each bubblewrap sandbox.
//
// The runner starts `bwrap ... --as-pid-1 -- /.ci/sandbox`; this program then
//   1. reads the job spec from fd 3 (netstrings, see parse_spec) and closes it,
//   2. writes the job's files into the work directory (a tmpfs),
//   3. runs each step (compile, then run; or compile, then one step per test case) as a child
//      with its own rlimits and a wall-clock limit.
//      With the job's cgroup (the launcher opened its control files onto fds 5-14, see
//      sandbox.h), the child joins it before exec, and the kernel holds the step's memory
//      (anonymous, shared, tmpfs pages alike: the OOM killer stops it) and processes; CPU time is
//      the cgroup's, which counts every process of the tree, reaped or not (checked every 50 ms).
//      Without a cgroup, CPU time and memory are polled from /proc every 50 ms instead (CPU of the
//      live processes and of the children they reaped; anonymous and shared resident pages, and
//      the pages of the sandbox's tmpfs). When the step ends (or is stopped), every process left
//      in the sandbox is killed and reaped,
//   4. reports each step on fd 4 as soon as it ends: its captured output, then one "step" line
//      with exit code, signal, CPU time, peak RSS from wait4()'s rusage, peak memory of the
//      tree, wall time, and why it was stopped (see report_step for the format).
//
// A step's stdin is /dev/null, the runner's pipe (fd 0), or bytes of the spec itself: those are
// fed through a pipe of the step's own, created just before it starts and written by this
// process, so no file in the sandbox ever holds them and no other step can read them. Its output
// is inherited (the runner streams it), captured into the report with stdout and stderr merged
// (compile output), or captured with stdout and stderr apart (test cases). A step marked
// keep-going lets the next step run even when it fails (one test case failing does not stop the
// next); any other failing step ends the job (a failed compile runs no test case).
//
// Descriptors: everything above the ones of sandbox.h is closed at start; every program sees only
// 0, 1 and 2 (close_range before exec).
//
// Being PID 1 of the sandbox's PID namespace, it cannot be killed from inside (the kernel drops
// signals to a namespace's init that has no handler) and it reaps every orphan, so the rusage of
// background processes is counted too. It is non-dumpable, so the program cannot ptrace it, read
// its memory (where the other steps' stdin is) or open its descriptors through /proc. The report
// descriptor is close-on-exec.
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/close_range.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "pty.h"

// A compile step and up to 50 test cases (Question.Limits.tests), with room to spare; the spec
// as a whole stays bounded by read_all_spec.
#define MAX_STEPS 64
#define MAX_ARGS 64
#define MAX_ENV 64
#define MAX_FILES 8
#define POLL_MS 50
// The most a step may ask to keep of one captured stream.
#define MAX_CAPTURE (16u << 20)

// STDIN_PTY: the step runs on a pseudo-terminal (0, 1, 2 its slave) fed from the runner's frames on
// fd 0 and relayed to fd 1 (pty.c).
enum stdin_mode { STDIN_NULL = 0, STDIN_RUNNER = 1, STDIN_SPEC = 2, STDIN_PTY = 3 };
enum capture_mode { CAPTURE_NONE = 0, CAPTURE_MERGED = 1, CAPTURE_SEPARATE = 2 };

struct step {
    char *name;
    long long cpu_ms, wall_ms, memory_kb, processes, file_size_kb, open_files, stack_kb;
    int stdin_mode;          // enum stdin_mode
    char *stdin_data;        // STDIN_SPEC: the bytes the program reads (inside the spec buffer)
    size_t stdin_length;
    int capture;             // enum capture_mode
    long long stdout_bytes;  // kept of stdout (of the merged stream with CAPTURE_MERGED)
    long long stderr_bytes;  // kept of stderr (CAPTURE_SEPARATE)
    long long output_limit;  // captured bytes (both streams) past which the step is stopped; 0: none
    int keep_going;          // the next step runs even when this one fails
    int argc;
    char *argv[MAX_ARGS + 1];
};

static struct step steps[MAX_STEPS];
static int step_count;
static char *env[MAX_ENV + 1];
static int env_count;
static struct { char *path; char *data; size_t length; int mode; } files[MAX_FILES];
static int file_count;
static char *workdir = "/work";
// An interactive step (STDIN_PTY): stopped after this long without input or output (0: never),
// and the terminal's first size.
static long long pty_idle_ms, pty_cols = 80, pty_rows = 24;

static void fail(const char *fmt, ...) {
    char buffer[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(buffer, sizeof buffer, fmt, args);
    va_end(args);
    dprintf(REPORT_FD, "error %s\n", buffer);
    _exit(111);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// ---- spec ------------------------------------------------------------------------------------

static char *spec;
static size_t spec_length, spec_pos;

static void read_all_spec(void) {
    size_t capacity = 1 << 16;
    spec = malloc(capacity);
    if (!spec) fail("out of memory");
    for (;;) {
        if (spec_length == capacity) {
            capacity *= 2;
            if (capacity > (64u << 20)) fail("spec too large");
            spec = realloc(spec, capacity);
            if (!spec) fail("out of memory");
        }
        ssize_t n = read(SPEC_FD, spec + spec_length, capacity - spec_length);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("reading the spec: %s", strerror(errno));
        if (n == 0) break;
        spec_length += (size_t)n;
    }
    close(SPEC_FD);
}

// One netstring "<len>:<bytes>," as a NUL-terminated string (the bytes may contain NULs: length).
static char *token(size_t *length) {
    size_t n = 0;
    int digits = 0;
    while (spec_pos < spec_length && spec[spec_pos] >= '0' && spec[spec_pos] <= '9') {
        n = n * 10 + (size_t)(spec[spec_pos++] - '0');
        if (++digits > 9) fail("bad spec: length too long");
    }
    if (!digits || spec_pos >= spec_length || spec[spec_pos] != ':') fail("bad spec at byte %zu", spec_pos);
    spec_pos++;
    if (spec_length - spec_pos < n + 1 || spec[spec_pos + n] != ',') fail("bad spec: truncated token");
    char *out = spec + spec_pos;
    out[n] = 0;   // overwrite the ',' terminator
    spec_pos += n + 1;
    if (length) *length = n;
    return out;
}

static long long number(void) {
    char *text = token(NULL), *end;
    long long value = strtoll(text, &end, 10);
    if (*text == 0 || *end != 0 || value < 0) fail("bad spec: '%s' is not a number", text);
    return value;
}

// The spec: a sequence of entries, each a netstring naming it followed by its fields, ended by
// "end":
//   workdir PATH
//   pty IDLE_MS COLS ROWS      (for a STDIN_PTY step)
//   env NAME=VALUE
//   file PATH MODE BYTES
//   step NAME CPU_MS WALL_MS MEMORY_KB PROCESSES FILE_SIZE_KB OPEN_FILES STACK_KB
//        STDIN_MODE STDIN_BYTES CAPTURE STDOUT_BYTES STDERR_BYTES OUTPUT_LIMIT KEEP_GOING
//        ARGC ARGV...
// (the modes are the enums above; STDIN_BYTES is empty unless STDIN_MODE is STDIN_SPEC).
static void parse_spec(void) {
    for (;;) {
        char *kind = token(NULL);
        if (!strcmp(kind, "end")) return;
        if (!strcmp(kind, "workdir")) {
            workdir = token(NULL);
        } else if (!strcmp(kind, "pty")) {
            pty_idle_ms = number();
            pty_cols = number();
            pty_rows = number();
            if (pty_cols < 1 || pty_cols > 1000 || pty_rows < 1 || pty_rows > 1000) fail("bad spec: pty size");
        } else if (!strcmp(kind, "env")) {
            if (env_count == MAX_ENV) fail("too many env entries");
            env[env_count++] = token(NULL);
        } else if (!strcmp(kind, "file")) {
            if (file_count == MAX_FILES) fail("too many files");
            files[file_count].path = token(NULL);
            files[file_count].mode = (int)number();
            files[file_count].data = token(&files[file_count].length);
            file_count++;
        } else if (!strcmp(kind, "step")) {
            if (step_count == MAX_STEPS) fail("too many steps");
            struct step *s = &steps[step_count++];
            s->name = token(NULL);
            s->cpu_ms = number();
            s->wall_ms = number();
            s->memory_kb = number();
            s->processes = number();
            s->file_size_kb = number();
            s->open_files = number();
            s->stack_kb = number();
            s->stdin_mode = (int)number();
            s->stdin_data = token(&s->stdin_length);
            s->capture = (int)number();
            s->stdout_bytes = number();
            s->stderr_bytes = number();
            s->output_limit = number();
            s->keep_going = (int)number();
            if (s->stdin_mode > STDIN_PTY || s->capture > CAPTURE_SEPARATE) fail("bad spec: step %s has an unknown mode", s->name);
            if (s->stdout_bytes > MAX_CAPTURE || s->stderr_bytes > MAX_CAPTURE) fail("bad spec: step %s captures too much", s->name);
            s->argc = (int)number();
            if (s->argc < 1 || s->argc > MAX_ARGS) fail("bad argument count");
            for (int i = 0; i < s->argc; i++) s->argv[i] = token(NULL);
            s->argv[s->argc] = NULL;
        } else {
            fail("bad spec: unknown entry '%s'", kind);
        }
    }
}

static void write_files(void) {
    if (chdir(workdir) != 0) fail("chdir %s: %s", workdir, strerror(errno));
    for (int i = 0; i < file_count; i++) {
        int fd = open(files[i].path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, files[i].mode);
        if (fd < 0) fail("creating %s: %s", files[i].path, strerror(errno));
        size_t done = 0;
        while (done < files[i].length) {
            ssize_t n = write(fd, files[i].data + done, files[i].length - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail("writing %s: %s", files[i].path, strerror(errno));
            done += (size_t)n;
        }
        close(fd);
    }
}

// ---- the process tree --------------------------------------------------------------------------

static long clock_ticks;

// Without a cgroup: CPU time (ms) of every live process in the sandbox but this one, with what
// they reaped of their children, and memory (KiB): their anonymous and shared resident pages
// and the whole size of their memfd mappings (a shared page mapped twice counts twice: an
// estimate on the safe side), the SysV segments of the sandbox's IPC namespace, and the pages of
// the sandbox's own tmpfs (files in /work, /tmp, /dev/shm hold memory whether mapped or not).
static const char *const tmpfs_dirs[] = {"/work", "/tmp", "/dev/shm"};

// KiB of the memfd mappings of process `pid` (from /proc/PID/maps).
static long long memfd_mappings_kb(long pid) {
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%ld/maps", pid);
    FILE *maps = fopen(path, "re");
    if (!maps) return 0;
    long long kb = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long long start, end;
        if (strstr(line, "/memfd:") && sscanf(line, "%llx-%llx", &start, &end) == 2) kb += (long long)((end - start) / 1024);
    }
    fclose(maps);
    return kb;
}

// KiB resident in the SysV shared memory segments of this IPC namespace (mapped or not).
static long long sysv_shm_kb(void) {
    FILE *file = fopen("/proc/sysvipc/shm", "re");
    if (!file) return 0;
    char line[512];
    long long kb = 0;
    if (fgets(line, sizeof line, file)) {   // the header
        while (fgets(line, sizeof line, file)) {
            unsigned long long rss = 0;
            // key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime rss swap
            if (sscanf(line, "%*d %*d %*o %*u %*d %*d %*u %*u %*u %*u %*u %*u %*u %*u %llu", &rss) == 1) kb += (long long)(rss / 1024);
        }
    }
    fclose(file);
    return kb;
}

static void sample_tree(long long *cpu_ms, long long *memory_kb) {
    *cpu_ms = 0;
    *memory_kb = sysv_shm_kb();
    for (size_t i = 0; i < sizeof tmpfs_dirs / sizeof tmpfs_dirs[0]; i++) {
        struct statvfs fs;
        if (statvfs(tmpfs_dirs[i], &fs) == 0 && fs.f_blocks >= fs.f_bfree) {
            *memory_kb += (long long)((fs.f_blocks - fs.f_bfree) * fs.f_frsize / 1024);
        }
    }
    DIR *proc = opendir("/proc");
    if (!proc) return;
    struct dirent *entry;
    char path[64], buffer[4096];
    while ((entry = readdir(proc))) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end || pid <= 1) continue;
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, buffer, sizeof buffer - 1);
            close(fd);
            if (n > 0) {
                buffer[n] = 0;
                // Fields after the command name (which may hold spaces) start past the last ')':
                // utime, stime, cutime, cstime are fields 14 to 17.
                char *p = strrchr(buffer, ')');
                unsigned long long utime = 0, stime = 0;
                long long cutime = 0, cstime = 0;
                if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
                                &utime, &stime, &cutime, &cstime) == 4) {
                    *cpu_ms += (long long)(utime + stime) * 1000 / clock_ticks + (cutime + cstime) * 1000 / clock_ticks;
                }
            }
        }
        snprintf(path, sizeof path, "/proc/%ld/status", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, buffer, sizeof buffer - 1);
            close(fd);
            if (n > 0) {
                buffer[n] = 0;
                const char *fields[] = {"\nRssAnon:", "\nRssShmem:"};
                for (int f = 0; f < 2; f++) {
                    char *at = strstr(buffer, fields[f]);
                    if (at) *memory_kb += strtoll(at + strlen(fields[f]), NULL, 10);
                }
            }
        }
        *memory_kb += memfd_mappings_kb(pid);
    }
    closedir(proc);
}

// ---- the job's cgroup (descriptors of sandbox.h) ---------------------------------------------

static int has_cgroup;

static long long read_number(int fd) {
    char buffer[64];
    ssize_t n = pread(fd, buffer, sizeof buffer - 1, 0);
    if (n <= 0) return -1;
    buffer[n] = 0;
    return strtoll(buffer, NULL, 10);
}

static int write_number(int fd, long long value) {
    char buffer[32];
    int length = snprintf(buffer, sizeof buffer, "%lld", value);
    return write(fd, buffer, (size_t)length) == length ? 0 : -1;
}

// How many processes the OOM killer has killed in the cgroup.
static long long oom_kills(void) {
    char buffer[512];
    ssize_t n = pread(CG_MEMORY_OOM, buffer, sizeof buffer - 1, 0);
    if (n <= 0) return 0;
    buffer[n] = 0;
    char *at = strstr(buffer, "oom_kill ");
    return at ? strtoll(at + 9, NULL, 10) : 0;
}

// The step's memory limit. It holds what the step's processes allocate, anonymous or shared, and
// the tmpfs pages they write; pages an earlier step left in the tmpfs stay charged, so when they
// alone exceed the limit (the kernel refuses it, EBUSY) the limit is that much higher.
// With swap accounting, memory+swap gets the same limit (raised first, lowered last).
static void set_step_limits(struct step *s) {
    if (write_number(CG_PIDS_MAX, s->processes) != 0) fail("setting pids.max: %s", strerror(errno));
    long long bytes = s->memory_kb * 1024;
    int memsw = fcntl(CG_MEMSW_LIMIT, F_GETFD) >= 0;
    if (memsw) write_number(CG_MEMSW_LIMIT, -1);
    if (write_number(CG_MEMORY_LIMIT, bytes) != 0) {
        long long usage = read_number(CG_MEMORY_USAGE);
        bytes += usage > 0 ? usage : 0;
        if (write_number(CG_MEMORY_LIMIT, bytes) != 0) fail("setting memory.limit_in_bytes: %s", strerror(errno));
    }
    if (memsw && write_number(CG_MEMSW_LIMIT, bytes) != 0) fail("setting memory.memsw.limit_in_bytes: %s", strerror(errno));
    write_number(CG_MEMORY_PEAK, 0);
}

static void kill_all(void) {
    // From PID 1 this reaches every other process of the namespace, detached or not.
    kill(-1, SIGKILL);
}

static void set_limit(int resource, long long value) {
    struct rlimit limit = {(rlim_t)value, (rlim_t)value};
    if (setrlimit(resource, &limit) != 0) {
        dprintf(2, "codeinterview-sandbox: setrlimit(%d): %s\n", resource, strerror(errno));
        _exit(127);
    }
}

// The descriptors a step's child is given: what becomes its 0, 1 and 2 (-1: keep the
// supervisor's own), and the pipe on which it reports a failed exec.
struct child_fds {
    int in, out, err;
    int exec_error;
    const struct pty *pty;   // an interactive step's terminal, or NULL
};

static void child(struct step *s, const struct child_fds *fds) {
    if (has_cgroup) {
        // Into the job's cgroup ("0": this process); the supervisor itself stays out of it, so the
        // OOM killer never picks it and the step's CPU time is the program's alone.
        const int procs[] = {CG_MEMORY_PROCS, CG_PIDS_PROCS, CG_CPU_PROCS};
        for (int i = 0; i < 3; i++) {
            if (write(procs[i], "0", 1) != 1) {
                int error = errno;
                dprintf(2, "codeinterview-sandbox: joining the job's cgroup: %s\n", strerror(error));
                ssize_t ignored = write(fds->exec_error, &error, sizeof error);
                (void)ignored;
                _exit(127);
            }
        }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    if (fds->pty && pty_child(fds->pty) != 0) {
        int error = errno;
        dprintf(2, "codeinterview-sandbox: the terminal: %s\n", strerror(error));
        ssize_t ignored = write(fds->exec_error, &error, sizeof error);
        (void)ignored;
        _exit(127);
    }
    if (s->stdin_mode == STDIN_NULL) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) { dup2(null, 0); if (null != 0) close(null); }
    }
    // dup2 clears close-on-exec on the copy; the originals (all above 2) close with the rest.
    if (fds->in >= 0) dup2(fds->in, 0);
    if (fds->out >= 0) dup2(fds->out, 1);
    if (fds->err >= 0) dup2(fds->err, 2);
    // Nothing but 0, 1 and 2 reaches the program (exec_error lives until the exec succeeds).
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < 65536; fd++) if (fd != fds->exec_error) close(fd);
    }
    // CPU: the tree's total is enforced by the supervisor; this per-process limit is a backstop
    // (SIGXCPU at the soft limit, SIGKILL one second later).
    long long cpu_seconds = (s->cpu_ms + 999) / 1000 + 1;
    struct rlimit cpu = {(rlim_t)cpu_seconds, (rlim_t)cpu_seconds + 1};
    setrlimit(RLIMIT_CPU, &cpu);
    // Memory: RLIMIT_DATA bounds each process's private writable mappings (heap, anonymous mmap),
    // which runtimes that reserve large address ranges (JVM, V8, Go) tolerate, unlike RLIMIT_AS.
    set_limit(RLIMIT_DATA, s->memory_kb * 1024);
    set_limit(RLIMIT_STACK, s->stack_kb * 1024);
    // Processes and threads of this sandbox's user (its own user namespace); +1 for this supervisor.
    set_limit(RLIMIT_NPROC, s->processes + 1);
    set_limit(RLIMIT_FSIZE, s->file_size_kb * 1024);
    set_limit(RLIMIT_NOFILE, s->open_files);
    set_limit(RLIMIT_CORE, 0);
    set_limit(RLIMIT_MEMLOCK, 0);
    set_limit(RLIMIT_MSGQUEUE, 0);
    umask(022);
    execvpe(s->argv[0], s->argv, env);
    int error = errno;
    ssize_t ignored = write(fds->exec_error, &error, sizeof error);
    (void)ignored;
    _exit(127);
}

// ---- captured output -------------------------------------------------------------------------

// One captured stream of a step: the read end of its pipe, the bytes kept (at most `cap`), and
// how many the program wrote in all.
struct capture {
    int fd;
    char *data;
    size_t kept, total, cap;
};

static void capture_open(struct capture *c, long long cap, int *write_end) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) fail("pipe: %s", strerror(errno));
    c->fd = fds[0];
    c->cap = (size_t)cap;
    c->kept = c->total = 0;
    c->data = malloc(c->cap + 1);
    if (!c->data) fail("out of memory");
    *write_end = fds[1];
}

// Reads what the pipe holds now (or, with `until_eof`, everything until the last writer is
// gone); keeps up to the cap and counts the rest. Closes the pipe at EOF.
static void capture_read(struct capture *c, int until_eof) {
    char buffer[16384];
    while (c->fd >= 0) {
        ssize_t n = read(c->fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(c->fd);
            c->fd = -1;
            return;
        }
        size_t keep = (size_t)n;
        if (c->kept + keep > c->cap) keep = c->cap - c->kept;
        memcpy(c->data + c->kept, buffer, keep);
        c->kept += keep;
        c->total += (size_t)n;
        if (!until_eof) return;
    }
}

static void write_all(int fd, const char *data, size_t length) {
    size_t done = 0;
    while (done < length) {
        ssize_t n = write(fd, data + done, length - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += (size_t)n;
    }
}

// A block of the report: "<label> <n>\n", the n bytes, "\n".
static void report_block(const char *label, const struct capture *c) {
    dprintf(REPORT_FD, "%s %zu\n", label, c->kept);
    write_all(REPORT_FD, c->data, c->kept);
    dprintf(REPORT_FD, "\n");
}

// ---- stdin from the spec ---------------------------------------------------------------------

// The pipe a STDIN_SPEC step reads: sized to hold the whole input when the kernel allows it
// (64 KiB, a test's largest stdin, is the default size anyway) and filled before the program
// starts. Whatever does not fit (a pipe the kernel would not grow) is written by the step's poll
// loop as the program reads. Returns the read end; *write_end is -1 when everything was written.
static int stdin_open(struct step *s, size_t *written, int *write_end) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) fail("pipe: %s", strerror(errno));
    if (fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) fail("fcntl: %s", strerror(errno));
    if (s->stdin_length > 0) {
        int size = fcntl(fds[1], F_GETPIPE_SZ);
        // Only grow it; a refusal (past /proc/sys/fs/pipe-max-size) leaves the rest to the loop.
        if (size >= 0 && (size_t)size < s->stdin_length && s->stdin_length <= (1u << 20)) {
            fcntl(fds[1], F_SETPIPE_SZ, (int)s->stdin_length);
        }
    }
    *written = 0;
    while (*written < s->stdin_length) {
        ssize_t n = write(fds[1], s->stdin_data + *written, s->stdin_length - *written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;   // full (EAGAIN): the rest goes as the program reads
        *written += (size_t)n;
    }
    if (*written == s->stdin_length) {
        close(fds[1]);
        fds[1] = -1;
    }
    *write_end = fds[1];
    return fds[0];
}

// Writes more of the step's stdin into its pipe; closes it when all is written or the program
// closed its end (EPIPE: SIGPIPE is ignored by the supervisor).
static void stdin_feed(struct step *s, size_t *written, int *write_end) {
    while (*write_end >= 0 && *written < s->stdin_length) {
        ssize_t n = write(*write_end, s->stdin_data + *written, s->stdin_length - *written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) break;
        *written += (size_t)n;
    }
    if (*write_end >= 0) close(*write_end);
    *write_end = -1;
}

// ---- one step --------------------------------------------------------------------------------

static long long rusage_ms(const struct rusage *usage) {
    return (long long)usage->ru_utime.tv_sec * 1000 + usage->ru_utime.tv_usec / 1000
         + (long long)usage->ru_stime.tv_sec * 1000 + usage->ru_stime.tv_usec / 1000;
}

// Runs one step and reports it. Returns 1 when it succeeded (exit 0, not stopped).
//
// The report of a step, written the moment it ends (so the runner can act on each step, a test
// case's result, while the next runs):
//   output <n>\n<n bytes>\n      captured stdout (CAPTURE_SEPARATE), or stdout and stderr
//                                merged (CAPTURE_MERGED)
//   stderr <n>\n<n bytes>\n      captured stderr (CAPTURE_SEPARATE)
//   step <name> exit E signal S cpu_ms C wall_ms W maxrss_kb R peak_kb P reason WHY errno N
//        truncated T stderr_truncated T\n
// The "step" line comes last and closes the step: the blocks before it are its output.
// WHY is none, cpu, wall, memory, output (the captured output passed output_limit, or the runner
// stopped reading a terminal's output), idle (a terminal without input or output for IDLE_MS), hangup
// (the runner hung the terminal up), input (a malformed frame), file_size or exec.
static int run_step(struct step *s, int signal_fd) {
    struct child_fds fds = {-1, -1, -1, -1, NULL};
    static struct pty terminal;
    int interactive = s->stdin_mode == STDIN_PTY;
    if (interactive) {
        char error[256];
        if (pty_open(&terminal, (int)pty_cols, (int)pty_rows, error, sizeof error) != 0) fail("%s", error);
        fds.pty = &terminal;
    }
    struct capture out = {-1, NULL, 0, 0, 0}, err = {-1, NULL, 0, 0, 0};
    if (s->capture == CAPTURE_MERGED) {
        capture_open(&out, s->stdout_bytes, &fds.out);
        fds.err = fds.out;
    } else if (s->capture == CAPTURE_SEPARATE) {
        capture_open(&out, s->stdout_bytes, &fds.out);
        capture_open(&err, s->stderr_bytes, &fds.err);
    }
    size_t stdin_written = 0;
    int stdin_write = -1;
    if (s->stdin_mode == STDIN_SPEC) fds.in = stdin_open(s, &stdin_written, &stdin_write);
    int exec_error[2];
    if (pipe2(exec_error, O_CLOEXEC) != 0) fail("pipe: %s", strerror(errno));
    fds.exec_error = exec_error[1];

    long long cpu_base = 0, oom_base = 0;
    if (has_cgroup) {
        set_step_limits(s);
        cpu_base = read_number(CG_CPU_USAGE);
        oom_base = oom_kills();
    }
    long long started = now_ms();
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) child(s, &fds);
    // Only the child holds the write ends of its output and the read end of its input.
    close(exec_error[1]);
    if (fds.in >= 0) close(fds.in);
    if (fds.out >= 0) close(fds.out);
    if (fds.err >= 0 && fds.err != fds.out) close(fds.err);

    long long cpu_reaped = 0, max_rss_kb = 0, peak_kb = 0, cpu_ms = 0;
    int main_status = 0, main_done = 0, stopped = 0;
    const char *reason = "none";
    long long deadline = started + s->wall_ms;
    long long main_ended = 0;
    long long last_activity = started;

    for (;;) {
        // Reap whatever ended: the main child and any orphan the program left behind.
        for (;;) {
            int status;
            struct rusage usage;
            pid_t done = wait4(-1, &status, WNOHANG, &usage);
            if (done <= 0) break;
            cpu_reaped += rusage_ms(&usage);
            if (usage.ru_maxrss > max_rss_kb) max_rss_kb = usage.ru_maxrss;
            if (done == pid) {
                main_status = status;
                main_done = 1;
                main_ended = now_ms();
            }
        }
        if (main_done) {
            // Nothing of the step may outlive it; reap the rest, then report.
            kill_all();
            int status;
            struct rusage usage;
            while (wait4(-1, &status, 0, &usage) > 0) {
                cpu_reaped += rusage_ms(&usage);
                if (usage.ru_maxrss > max_rss_kb) max_rss_kb = usage.ru_maxrss;
            }
            break;
        }
        if (!stopped) {
            if (has_cgroup) {
                cpu_ms = (read_number(CG_CPU_USAGE) - cpu_base) / 1000000;
                if (cpu_ms > s->cpu_ms) { reason = "cpu"; stopped = 1; }
                else if (oom_kills() > oom_base) { reason = "memory"; stopped = 1; }
            } else {
                long long cpu_live, memory_kb;
                sample_tree(&cpu_live, &memory_kb);
                if (memory_kb > peak_kb) peak_kb = memory_kb;
                cpu_ms = cpu_reaped + cpu_live;
                if (cpu_ms > s->cpu_ms) { reason = "cpu"; stopped = 1; }
                else if (memory_kb > s->memory_kb) { reason = "memory"; stopped = 1; }
            }
            if (!stopped && s->output_limit > 0 && (long long)(out.total + err.total) > s->output_limit) {
                reason = "output";
                stopped = 1;
            }
            if (!stopped && now_ms() >= deadline) { reason = "wall"; stopped = 1; }
            if (!stopped && interactive && pty_idle_ms > 0 && now_ms() - last_activity >= pty_idle_ms) { reason = "idle"; stopped = 1; }
            if (stopped) kill_all();
        }
        // Wait for a child to end, output to read or room in the stdin pipe, at most POLL_MS.
        struct pollfd polled[6] = {{signal_fd, POLLIN, 0}};
        int count = 1, out_at = -1, err_at = -1, in_at = -1, control_at = -1, master_at = -1;
        if (interactive && !stopped) {
            if (pty_wants_control(&terminal)) { control_at = count; polled[count++] = (struct pollfd){0, POLLIN, 0}; }
            master_at = count;
            polled[count++] = (struct pollfd){terminal.master, (short)(POLLIN | (pty_wants_write(&terminal) ? POLLOUT : 0)), 0};
        }
        if (out.fd >= 0) { out_at = count; polled[count++] = (struct pollfd){out.fd, POLLIN, 0}; }
        if (err.fd >= 0) { err_at = count; polled[count++] = (struct pollfd){err.fd, POLLIN, 0}; }
        if (stdin_write >= 0) { in_at = count; polled[count++] = (struct pollfd){stdin_write, POLLOUT, 0}; }
        long long wait = POLL_MS;
        if (!stopped && deadline - now_ms() < wait) wait = deadline - now_ms() < 0 ? 0 : deadline - now_ms();
        int ready = poll(polled, (nfds_t)count, (int)wait);
        if (ready <= 0) continue;
        if (polled[0].revents & POLLIN) {
            struct signalfd_siginfo info;
            while (read(signal_fd, &info, sizeof info) == sizeof info) {}
        }
        if (out_at > 0 && (polled[out_at].revents & (POLLIN | POLLHUP | POLLERR))) capture_read(&out, 0);
        if (err_at > 0 && (polled[err_at].revents & (POLLIN | POLLHUP | POLLERR))) capture_read(&err, 0);
        if (in_at > 0 && polled[in_at].revents) stdin_feed(s, &stdin_written, &stdin_write);
        if (control_at > 0 && polled[control_at].revents) {
            last_activity = now_ms();
            int r = pty_read_control(&terminal);
            if (r != 0 && !stopped) { reason = r > 0 ? "hangup" : "input"; stopped = 1; kill_all(); }
        }
        if (master_at > 0 && (polled[master_at].revents & POLLOUT)) pty_flush_input(&terminal);
        if (master_at > 0 && (polled[master_at].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = pty_relay_output(&terminal);
            if (n > 0) last_activity = now_ms();
            if (n < 0 && !stopped) { reason = "output"; stopped = 1; kill_all(); }
        }
    }
    if (interactive) {
        // Every process holding the slave is gone: what the master still holds, then EIO.
        pty_relay_output(&terminal);
        pty_close(&terminal);
    }
    long long wall = (main_ended ? main_ended : now_ms()) - started;
    if (has_cgroup) {
        // Every process of the step is reaped: the cgroup's figures are final.
        cpu_ms = (read_number(CG_CPU_USAGE) - cpu_base) / 1000000;
        peak_kb = read_number(CG_MEMORY_PEAK) / 1024;
        if (!stopped && oom_kills() > oom_base) reason = "memory";
    } else {
        cpu_ms = cpu_reaped;
    }
    // Whatever is still buffered in the pipes (every writer is gone now).
    capture_read(&out, 1);
    capture_read(&err, 1);
    if (stdin_write >= 0) close(stdin_write);
    // This step's input is of no further use: it does not stay in memory for the steps after.
    if (s->stdin_length) explicit_bzero(s->stdin_data, s->stdin_length);

    int exec_errno = 0;
    if (read(exec_error[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno && exec_errno) reason = "exec";
    close(exec_error[0]);

    int code = WIFEXITED(main_status) ? WEXITSTATUS(main_status) : -1;
    int sig = WIFSIGNALED(main_status) ? WTERMSIG(main_status) : 0;
    // The per-process backstops also count as the tree's limits.
    if (!stopped && strcmp(reason, "none") == 0) {
        if (sig == SIGXCPU || (sig == SIGKILL && cpu_ms >= s->cpu_ms)) reason = "cpu";
        else if (sig == SIGXFSZ) reason = "file_size";
    }
    if (s->capture != CAPTURE_NONE) report_block("output", &out);
    if (s->capture == CAPTURE_SEPARATE) report_block("stderr", &err);
    dprintf(REPORT_FD, "step %s exit %d signal %d cpu_ms %lld wall_ms %lld maxrss_kb %lld peak_kb %lld reason %s errno %d "
            "truncated %d stderr_truncated %d\n",
            s->name, code, sig, cpu_ms, wall, max_rss_kb, peak_kb, reason, exec_errno,
            out.total > out.kept ? 1 : 0, err.total > err.kept ? 1 : 0);
    free(out.data);
    free(err.data);
    return !stopped && !exec_errno && WIFEXITED(main_status) && code == 0 && strcmp(reason, "none") == 0;
}

int launch_main(int argc, char **argv);
int cgroups_main(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "launch") == 0) return launch_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "cgroups") == 0) return cgroups_main(argc, argv);
    if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) != 0) return 110;
    // Whatever else bubblewrap passed on (its seccomp descriptor, anything inherited) goes now.
    if (syscall(SYS_close_range, (unsigned)CG_LAST + 1, ~0U, 0) != 0) {
        for (int fd = CG_LAST + 1; fd < 65536; fd++) close(fd);
    }
    // The cgroup's descriptors are used only when the launcher opened all of them (the memsw one
    // is optional); otherwise none of 5-14 is anything of ours.
    has_cgroup = 1;
    for (int fd = CG_MEMORY_PROCS; fd <= CG_LAST; fd++) {
        if (fd != CG_MEMSW_LIMIT && fcntl(fd, F_GETFD) < 0) has_cgroup = 0;
    }
    for (int fd = CG_MEMORY_PROCS; fd <= CG_LAST; fd++) {
        if (has_cgroup) fcntl(fd, F_SETFD, FD_CLOEXEC);
        else close(fd);
    }
    if (getpid() != 1) fail("must run as PID 1 of a sandbox (bwrap --as-pid-1 --unshare-pid)");
    prctl(PR_SET_DUMPABLE, 0);
    clock_ticks = sysconf(_SC_CLK_TCK);

    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int signal_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd < 0) fail("signalfd: %s", strerror(errno));

    read_all_spec();
    parse_spec();
    write_files();
    // A program's stdin may close before the supervisor has written all of it: EPIPE, not death.
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < step_count; i++) {
        if (!run_step(&steps[i], signal_fd) && !steps[i].keep_going) break;
    }
    dprintf(REPORT_FD, "done\n");
    return 0;
}
