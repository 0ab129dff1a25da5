// sbxrun: the bare sandboxed run, the reference for scripts/bench's execution figures.
//
//   sbxrun -H HELPER [-b BWRAP] [-s TMPFS_BYTES] [-u UID] [-e CODE] (-n COUNT | -d SECONDS) [-i]
//
// Starts exactly what the runner starts for one Python job (Sources/Runner/Sandbox.swift's
// launchArguments() and bwrapArguments(): the launcher `codeinterview-sandbox launch` with the
// job slot's cgroup, its capped tmpfs mounts and the seccomp filter, then bubblewrap as the
// slot's uid, the supervisor as PID 1, the spec Execution.spec builds for a Python program with
// the default limits, stdin and the spec and report on pipes); without root, what a runner that
// is not root starts (no cgroup, bubblewrap's own tmpfs, the seccomp filter). It waits for the
// supervisor's report and for every pipe to close, and times that, spawn to end. Runs COUNT times
// or for SECONDS, one after another; prints one JSON object with the times (ms) and runs/s.
// With -i it runs one sandbox per line read on stdin and answers each with its time in ms (so
// scripts/bench can interleave bare runs with API runs).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *bwrap = "/usr/bin/bwrap";
static const char *helper;
static long long tmpfs_bytes = 256LL * 1024 * 1024;
static const char *code = "print(\"hello, world\")\n";
static long uid = -1;   // -u, else a free one of the runner's default range, locked as a runner locks its own
#define MOUNTS "/run/codeinterview-sandbox"
#define TMPFS_INODES 16384
static char *cgroup_dirs[3];   // memory, pids, cpuacct of this process's one slot (root only)
static int privileged;

static char *argv_out[256];
static int argc_out;
static char spec[65536];
static size_t spec_len;

static void arg(const char *a) { argv_out[argc_out++] = strdup(a); }

static int compare(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Runner.swift: lockSlotUIDs(), for one slot.
static void lock_uid(void) {
    for (long candidate = 60000; candidate <= 60255 && uid < 0; candidate++) {
        char path[128];
        snprintf(path, sizeof path, MOUNTS "/uid-%ld.lock", candidate);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) uid = candidate;   // held until this process exits
        else close(fd);
    }
    if (uid < 0) { fprintf(stderr, "sbxrun: no free uid in 60000-60255\n"); exit(2); }
}

// Sandbox.swift: the slot's cgroup directories, made through `codeinterview-sandbox cgroups`.
static void make_cgroups(void) {
    char command[4200], line[4200];
    snprintf(command, sizeof command, "%s cgroups codeinterview-sbxrun-%d", helper, (int)getpid());
    FILE *out = popen(command, "r");
    int found = 0;
    while (out && fgets(line, sizeof line, out)) {
        line[strcspn(line, "\n")] = 0;
        const char *names[] = {"memory ", "pids ", "cpuacct "};
        for (int i = 0; i < 3; i++) {
            if (strncmp(line, names[i], strlen(names[i])) == 0) {
                if (asprintf(&cgroup_dirs[i], "%s/slot-0", line + strlen(names[i])) < 0) exit(2);
                found++;
            }
        }
        if (found < 3 && !strchr(line, '/')) fprintf(stderr, "sbxrun: no cgroup: %s\n", line);
    }
    if (!out || pclose(out) != 0 || found != 3) { fprintf(stderr, "sbxrun: no cgroup, the runner would fall back\n"); exit(2); }
}

static void remove_cgroups(void) {
    for (int i = 0; i < 3; i++) {
        if (!cgroup_dirs[i]) continue;
        rmdir(cgroup_dirs[i]);
        *strrchr(cgroup_dirs[i], '/') = 0;
        rmdir(cgroup_dirs[i]);
    }
}

// Sandbox.swift: launchArguments() and bwrapArguments().
static void build_argv(void) {
    char number[32], tmpfs[3][256];
    arg(helper);
    arg("launch");
    if (privileged) {
        snprintf(number, sizeof number, "%ld", uid);
        arg("--uid"); arg(number); arg("--gid"); arg(number);
        arg("--cgroup-memory"); arg(cgroup_dirs[0]);
        arg("--cgroup-pids"); arg(cgroup_dirs[1]);
        arg("--cgroup-cpuacct"); arg(cgroup_dirs[2]);
        const char *mounts[] = {"tmp", "work", "shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(tmpfs[i], sizeof tmpfs[i], MOUNTS "/%s:%lld:%d", mounts[i], tmpfs_bytes, TMPFS_INODES);
            arg("--tmpfs"); arg(tmpfs[i]);
        }
    }
    arg("--seccomp");
    arg("--");
    const char *fixed[] = {"--unshare-all", "--unshare-user", "--disable-userns",
                           "--uid", "65534", "--gid", "65534", "--hostname", "sandbox",
                           "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--as-pid-1",
                           "--seccomp", "15",
                           "--ro-bind", "/usr", "/usr",
                           "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                           "--symlink", "usr/lib", "/lib", NULL};
    arg(bwrap);
    for (int i = 0; fixed[i]; i++) arg(fixed[i]);
    if (access("/usr/lib64", F_OK) == 0) { arg("--symlink"); arg("usr/lib64"); arg("/lib64"); }
    if (access("/usr/lib32", F_OK) == 0) { arg("--symlink"); arg("usr/lib32"); arg("/lib32"); }
    char *etc[64];
    int etc_count = 0;
    const char *names[] = {"alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", NULL};
    for (int i = 0; names[i]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/etc/%s", names[i]);
        if (access(path, F_OK) == 0) etc[etc_count++] = strdup(path);
    }
    DIR *d = opendir("/etc");
    struct dirent *e;
    while (d && (e = readdir(d)) && etc_count < 60) {
        if (strncmp(e->d_name, "java-", 5) == 0) {
            char path[300];
            snprintf(path, sizeof path, "/etc/%s", e->d_name);
            etc[etc_count++] = strdup(path);
        }
    }
    if (d) closedir(d);
    qsort(etc, (size_t)etc_count, sizeof etc[0], compare);
    for (int i = 0; i < etc_count; i++) { arg("--ro-bind"); arg(etc[i]); arg(etc[i]); }
    char size[32];
    snprintf(size, sizeof size, "%lld", tmpfs_bytes);
    arg("--proc"); arg("/proc"); arg("--dev"); arg("/dev");
    const char *places[] = {"/tmp", "/work", "/dev/shm"};
    const char *mounts[] = {"tmp", "work", "shm"};
    for (int i = 0; i < 3; i++) {
        if (privileged) {
            char source[256];
            snprintf(source, sizeof source, MOUNTS "/%s", mounts[i]);
            arg("--bind"); arg(source); arg(places[i]);
        } else {
            arg("--size"); arg(size); arg("--tmpfs"); arg(places[i]);
        }
    }
    const char *rest[] = {"--remount-ro", "/dev",
                          "--ro-bind", helper, "/.ci/sandbox",
                          "--remount-ro", "/",
                          "--chdir", "/work",
                          "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/work",
                          "--", "/.ci/sandbox", NULL};
    for (int i = 0; rest[i]; i++) arg(rest[i]);
    argv_out[argc_out] = NULL;
}

static void put(const char *bytes, size_t n) {
    spec_len += (size_t)snprintf(spec + spec_len, sizeof spec - spec_len, "%zu:", n);
    memcpy(spec + spec_len, bytes, n);
    spec_len += n;
    spec[spec_len++] = ',';
}
static void puts_(const char *text) { put(text, strlen(text)); }
static void putn(long long n) { char b[32]; snprintf(b, sizeof b, "%lld", n); puts_(b); }

// Execution.swift: spec, for Toolchain.python and ExecutionLimits.defaults.
static void build_spec(void) {
    puts_("workdir"); puts_("/work");
    const char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "TMPDIR=/tmp", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
                         "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8", NULL};
    for (int i = 0; env[i]; i++) { puts_("env"); puts_(env[i]); }
    puts_("file"); puts_("main.py"); putn(0644); puts_(code);
    // step NAME CPU_MS WALL_MS MEMORY_KB PROCESSES FILE_SIZE_KB OPEN_FILES STACK_KB
    //      STDIN_MODE STDIN_BYTES CAPTURE STDOUT_BYTES STDERR_BYTES OUTPUT_LIMIT KEEP_GOING ARGC ARGV...
    // (RunnerSandbox/main.c's parse_spec; SandboxSpec.bytes for a "run" step: the runner's stdin
    // pipe (1, no bytes), output streamed, not captured (0, 0, 0), no output limit, not keep-going.)
    puts_("step"); puts_("run");
    putn(5000); putn(10000); putn(262144); putn(64); putn(1024); putn(64); putn(8 * 1024);
    putn(1); puts_("");
    putn(0); putn(0); putn(0);
    putn(0); putn(0);
    putn(3); puts_("python3"); puts_("-u"); puts_("main.py");
    puts_("end");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

// One sandboxed run; returns its wall time in ms, or -1 when it did not report success.
static double run_once(char *report_out, size_t report_cap) {
    int p[5][2];
    double started = now_ms();
    for (int i = 0; i < 5; i++) if (pipe2(p[i], O_CLOEXEC) != 0) { perror("pipe"); exit(2); }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(2); }
    if (pid == 0) {
        // Child ends: 0 and 3 are read ends, 1, 2, 4 write ends (dup2 clears close-on-exec).
        int ends[5] = {p[0][0], p[1][1], p[2][1], p[3][0], p[4][1]};
        int moved[5];
        for (int i = 0; i < 5; i++) moved[i] = fcntl(ends[i], F_DUPFD_CLOEXEC, 10);
        for (int i = 0; i < 5; i++) dup2(moved[i], i);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
        execve(argv_out[0], argv_out, envp);
        _exit(127);
    }
    close(p[0][0]); close(p[1][1]); close(p[2][1]); close(p[3][0]); close(p[4][1]);
    close(p[0][1]);   // empty stdin
    size_t off = 0;
    while (off < spec_len) {
        ssize_t w = write(p[3][1], spec + off, spec_len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(p[3][1]);
    struct pollfd fds[3] = {{p[1][0], POLLIN, 0}, {p[2][0], POLLIN, 0}, {p[4][0], POLLIN, 0}};
    int open_count = 3;
    size_t report_len = 0;
    char sink[65536];
    while (open_count > 0) {
        if (poll(fds, 3, -1) < 0) { if (errno == EINTR) continue; break; }
        for (int i = 0; i < 3; i++) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            ssize_t n = read(fds[i].fd, sink, sizeof sink);
            if (n > 0) {
                if (i == 2 && report_len + (size_t)n < report_cap) { memcpy(report_out + report_len, sink, (size_t)n); report_len += (size_t)n; }
            } else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_count--;
            }
        }
    }
    int status;
    waitpid(pid, &status, 0);
    double elapsed = now_ms() - started;
    report_out[report_len] = 0;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(report_out, "step run exit 0 ") && strstr(report_out, "\ndone");
    return ok ? elapsed : -1;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    long count = 0;
    double seconds = 0;
    int interactive = 0;
    int opt;
    while ((opt = getopt(argc, argv, "b:H:s:u:e:n:d:i")) != -1) {
        switch (opt) {
        case 'u': uid = atol(optarg); break;
        case 'b': bwrap = optarg; break;
        case 'H': helper = optarg; break;
        case 's': tmpfs_bytes = atoll(optarg); break;
        case 'e': code = optarg; break;
        case 'n': count = atol(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'i': interactive = 1; break;
        default: fprintf(stderr, "usage: sbxrun -H HELPER [-b BWRAP] [-s TMPFS_BYTES] [-e CODE] (-n COUNT | -d SECONDS | -i)\n"); return 2;
        }
    }
    if (!helper || (!count && seconds <= 0 && !interactive)) { fprintf(stderr, "sbxrun: -H and one of -n, -d, -i are required\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    privileged = geteuid() == 0;
    if (privileged) {
        mkdir(MOUNTS, 0755);
        mkdir(MOUNTS "/tmp", 0755);
        mkdir(MOUNTS "/work", 0755);
        mkdir(MOUNTS "/shm", 0755);
        if (uid < 0) lock_uid();
        make_cgroups();
        atexit(remove_cgroups);
    }
    build_argv();
    build_spec();
    static char report[1 << 20];
    if (interactive) {
        char line[64];
        setvbuf(stdout, NULL, _IOLBF, 0);
        while (fgets(line, sizeof line, stdin)) {
            double t = run_once(report, sizeof report);
            if (t < 0) fprintf(stderr, "sbxrun: a run failed: %.300s\n", report);
            printf("%.3f\n", t);
        }
        return 0;
    }
    size_t cap = 1024, n = 0, failures = 0;
    double *times = malloc(cap * sizeof *times);
    double started = now_ms();
    for (;;) {
        if (count && (long)(n + failures) >= count) break;
        if (!count && now_ms() - started >= seconds * 1000) break;
        double t = run_once(report, sizeof report);
        if (t < 0) {
            if (!failures) fprintf(stderr, "sbxrun: a run failed: %.300s\n", report);
            failures++;
            continue;
        }
        if (n == cap) { cap *= 2; times = realloc(times, cap * sizeof *times); }
        times[n++] = t;
    }
    double total = now_ms() - started;
    qsort(times, n, sizeof *times, by_value);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += times[i];
    printf("{\"runs\":%zu,\"failures\":%zu,\"seconds\":%.3f,\"runs_per_s\":%.3f,\"ms\":{\"p50\":%.3f,\"p90\":%.3f,\"mean\":%.3f,\"min\":%.3f,\"max\":%.3f}}\n",
           n, failures, total / 1000, (double)n / (total / 1000),
           n ? times[n / 2] : -1, n ? times[(size_t)((double)n * 0.9)] : -1, n ? sum / (double)n : -1,
           n ? times[0] : -1, n ? times[n - 1] : -1);
    return failures && !n;
}
