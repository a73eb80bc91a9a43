// Deterministic random numbers with explicit state (no globals).
// Rng: xoshiro256** for sequential draws (shuffles, initialisation).
// rng_hash: a stateless counter-based generator, used where draws must not
// depend on thread scheduling or on how far a run got before a resume
// (dropout masks are a pure function of seed, step, tensor and element).
#ifndef UTIL_RNG_H
#define UTIL_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

static inline uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// A well-mixed 64-bit hash of (key, counter): independent streams per key.
static inline uint64_t rng_hash(uint64_t key, uint64_t counter) {
    uint64_t state = key ^ (counter * 0xD1B54A32D192ED03ull);
    splitmix64(&state);
    return splitmix64(&state);
}

static inline void rng_seed(Rng *rng, uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&sm);
}

static inline uint64_t rng_next(Rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

// Uniform in [0, 1) with 53 random bits.
static inline double rng_uniform(Rng *rng) { return (double)(rng_next(rng) >> 11) * 0x1.0p-53; }

// Uniform integer in [0, n) without modulo bias (Lemire's method).
static inline uint64_t rng_below(Rng *rng, uint64_t n) {
    __uint128_t m = (__uint128_t)rng_next(rng) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (__uint128_t)rng_next(rng) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

// Standard normal (Box-Muller; uses two uniforms per call, discards one).
static inline double rng_normal(Rng *rng) {
    double u1 = rng_uniform(rng), u2 = rng_uniform(rng);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// Fisher-Yates shuffle of idx[n].
static inline void rng_shuffle(Rng *rng, int *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(rng, (uint64_t)i + 1);
        int tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}

#endif
