// Wall time for progress, throughput and ETA figures.
#ifndef UTIL_CLOCK_H
#define UTIL_CLOCK_H

#include <time.h>

// Seconds on the monotonic clock (arbitrary origin; differences only).
static inline double clock_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#endif
