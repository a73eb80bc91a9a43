#include "util/memory.h"

#include <stdio.h>
#include <string.h>

// MemAvailable from /proc/meminfo in bytes, or -1.
static double meminfo_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
    fclose(f);
    return kib < 0 ? -1 : kib * 1024.0;
}

// One number from a cgroup v2 file ("max" or missing: -1).
static double cgroup_value(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char text[64] = "";
    double v = -1;
    if (fgets(text, sizeof text, f) && strncmp(text, "max", 3) != 0 && sscanf(text, "%lf", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

int mem_available(size_t *bytes, const char **source) {
    double avail = meminfo_available();
    *source = "MemAvailable";
    double limit = cgroup_value("/sys/fs/cgroup/memory.max");
    if (limit >= 0) {
        double used = cgroup_value("/sys/fs/cgroup/memory.current");
        double left = limit - (used > 0 ? used : 0);
        if (left < 0) left = 0;
        if (avail < 0 || left < avail) {
            avail = left;
            *source = "the cgroup limit memory.max";
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
