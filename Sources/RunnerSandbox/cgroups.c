// codeinterview-sandbox cgroups PREFIX-PID: makes the parent cgroup of a runner's job slots.
//
// In each cgroup v1 hierarchy the jobs need (memory, pids, cpuacct), the directory PREFIX-PID
// is made below the cgroup the caller itself is in (read from /proc/self/cgroup, located through
// /proc/self/mountinfo), so a runner placed in a cgroup by its supervisor (systemd, a container)
// keeps its jobs inside it. Siblings PREFIX-N of processes N that no longer exist (a runner that
// was killed) are removed with their slots. Prints "memory DIR", "pids DIR", "cpuacct DIR" and
// exits 0; or prints why no cgroup can be made here and exits 1 (the runner then falls back to
// polling /proc, and says so).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const controllers[] = {"memory", "pids", "cpuacct"};
#define CONTROLLERS 3

// Whether the comma-separated `list` names `word`.
static int lists(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t length = end ? (size_t)(end - p) : strlen(p);
        if (length == n && strncmp(p, word, n) == 0) return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

// Removes PREFIX-N directories (and their slot-* children) of `base` whose process N is gone.
static void remove_stale(const char *base, const char *prefix) {
    DIR *dir = opendir(base);
    if (!dir) return;
    size_t n = strlen(prefix);
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (strncmp(entry->d_name, prefix, n) != 0) continue;
        char *end;
        long pid = strtol(entry->d_name + n, &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[4096 + 256 + 2];
        snprintf(path, sizeof path, "%s/%s", base, entry->d_name);
        DIR *slots = opendir(path);
        struct dirent *slot;
        while (slots && (slot = readdir(slots))) {
            if (strncmp(slot->d_name, "slot-", 5) != 0) continue;
            char child[sizeof path + 256 + 2];
            snprintf(child, sizeof child, "%s/%s", path, slot->d_name);
            rmdir(child);
        }
        if (slots) closedir(slots);
        rmdir(path);
    }
    closedir(dir);
}

int cgroups_main(int argc, char **argv) {
    if (argc != 3 || !strchr(argv[2], '-') || strchr(argv[2], '/')) {
        printf("usage: codeinterview-sandbox cgroups PREFIX-PID\n");
        return 2;
    }
    const char *name = argv[2];
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strrchr(name, '-') - name + 1), name);

    char *paths[CONTROLLERS] = {0}, *mounts[CONTROLLERS] = {0}, *roots[CONTROLLERS] = {0};
    char line[8192];
    FILE *file = fopen("/proc/self/cgroup", "re");
    if (!file) { printf("cannot read /proc/self/cgroup: %s\n", strerror(errno)); return 1; }
    int v2_only = 1;
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\n")] = 0;
        char *first = strchr(line, ':');
        char *second = first ? strchr(first + 1, ':') : NULL;
        if (!second) continue;
        *first = *second = 0;
        if (first[1]) v2_only = 0;
        for (int c = 0; c < CONTROLLERS; c++) {
            if (lists(first + 1, controllers[c])) paths[c] = strdup(second + 1);
        }
    }
    fclose(file);

    file = fopen("/proc/self/mountinfo", "re");
    if (!file) { printf("cannot read /proc/self/mountinfo: %s\n", strerror(errno)); return 1; }
    while (fgets(line, sizeof line, file)) {
        // id parent major:minor root mount-point options [optional...] - type source super-options
        char *fields[16];
        int count = 0;
        for (char *p = strtok(line, " \n"); p && count < 16; p = strtok(NULL, " \n")) fields[count++] = p;
        int dash = -1;
        for (int i = 6; i < count; i++) if (!strcmp(fields[i], "-")) { dash = i; break; }
        if (dash < 0 || dash + 3 >= count || strcmp(fields[dash + 1], "cgroup") != 0) continue;
        const char *options = fields[dash + 3];
        for (int c = 0; c < CONTROLLERS; c++) {
            if (!mounts[c] && lists(options, controllers[c])) {
                mounts[c] = strdup(fields[4]);
                roots[c] = strdup(fields[3]);
            }
        }
    }
    fclose(file);

    char *dirs[CONTROLLERS];
    for (int c = 0; c < CONTROLLERS; c++) {
        if (!paths[c] || !mounts[c]) {
            printf("no cgroup v1 %s hierarchy is mounted%s\n", controllers[c],
                   v2_only ? " (this is a cgroup v2 system; the runner uses cgroup v1 controllers)" : "");
            return 1;
        }
        // Where cgroupfs is mounted from a subtree (a container), the path is relative to its root.
        const char *path = paths[c];
        size_t root_length = strlen(roots[c]);
        if (strcmp(roots[c], "/") != 0 && strncmp(path, roots[c], root_length) == 0) path += root_length;
        char base[4096];
        snprintf(base, sizeof base, "%s%s", mounts[c], strcmp(path, "/") == 0 ? "" : path);
        remove_stale(base, prefix);
        if (asprintf(&dirs[c], "%s/%s", base, name) < 0) return 1;
        if (mkdir(dirs[c], 0755) != 0 && errno != EEXIST) {
            printf("cannot create the cgroup %s: %s\n", dirs[c], strerror(errno));
            for (int d = 0; d < c; d++) rmdir(dirs[d]);
            return 1;
        }
    }
    for (int c = 0; c < CONTROLLERS; c++) printf("%s %s\n", controllers[c], dirs[c]);
    return 0;
}
