// How much memory this process can still have: the smaller of the
// kernel's MemAvailable and what the cgroup limit leaves, so a run can be
// refused with a message before the OOM killer ends it without one.
#ifndef UTIL_MEMORY_H
#define UTIL_MEMORY_H

#include <stddef.h>

// *bytes: available bytes; *source: which limit decided ("MemAvailable" or
// a cgroup limit, v2 or v1).  Returns 0, or -1 when none can be read
// (then nothing is known and callers do not refuse).
int mem_available(size_t *bytes, const char **source);

// "1.5 GiB" / "320.0 MiB" into out[cap].
void mem_format(char *out, size_t cap, double bytes);

#endif
