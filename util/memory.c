#include "util/memory.h"

#include <stdio.h>
#include <string.h>

// The cgroup memory limits a process may run under: v2 (unified) and v1,
// as the container sees them.  Page cache that can be dropped
// (inactive_file) is not counted as used, as in `docker stats`.
static const struct {
    const char *limit, *usage, *stat, *inactive_key, *name;
} CGROUP_LIMITS[] = {
    {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat",
     "inactive_file", "the cgroup limit memory.max"},
    {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
     "/sys/fs/cgroup/memory/memory.stat", "total_inactive_file",
     "the cgroup limit memory.limit_in_bytes"},
};

// The value of "KEY <number>" (or "KEY: <number>") in a file, or -1.
static double keyed_value(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    double v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && (line[n] == ' ' || line[n] == ':')) {
            if (sscanf(line + n + 1, " %lf", &v) != 1) v = -1;
            break;
        }
    fclose(f);
    return v;
}

// The single number in a cgroup file; "max", a missing file or a limit
// too large to be one: -1.
static double cgroup_value(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char text[64] = "";
    double v = -1;
    if (!fgets(text, sizeof text, f) || sscanf(text, "%lf", &v) != 1 || v >= 0x1p60) v = -1;
    fclose(f);
    return v;
}

int mem_available(size_t *bytes, const char **source) {
    double kib = keyed_value("/proc/meminfo", "MemAvailable");
    double avail = kib < 0 ? -1 : kib * 1024.0;
    *source = "MemAvailable";
    for (size_t i = 0; i < sizeof CGROUP_LIMITS / sizeof CGROUP_LIMITS[0]; i++) {
        double limit = cgroup_value(CGROUP_LIMITS[i].limit);
        if (limit < 0) continue;
        double used = cgroup_value(CGROUP_LIMITS[i].usage);
        double cache = keyed_value(CGROUP_LIMITS[i].stat, CGROUP_LIMITS[i].inactive_key);
        double left = limit - (used > 0 ? used : 0) + (cache > 0 ? cache : 0);
        if (left < 0) left = 0;
        if (avail < 0 || left < avail) {
            avail = left;
            *source = CGROUP_LIMITS[i].name;
        }
    }
    if (avail < 0) return -1;
    *bytes = (size_t)avail;
    return 0;
}

void mem_format(char *out, size_t cap, double bytes) {
    const double gib = 1024.0 * 1024.0 * 1024.0;
    if (bytes >= gib)
        snprintf(out, cap, "%.1f GiB", bytes / gib);
    else
        snprintf(out, cap, "%.1f MiB", bytes / (1024.0 * 1024.0));
}
