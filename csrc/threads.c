/* A barrier-free thread pool for the kernels.
 *
 * Why not OpenMP: a parallel region ends in a barrier, so a kernel waits for
 * every thread of the team to be scheduled, and on a 2-core machine with any
 * other busy process that is a scheduler tick (4 ms) on a 0.2 ms kernel. Here
 * the calling thread claims parts of the range itself, helpers claim what is
 * left when they wake, and the caller waits only for parts a helper has
 * claimed and is running. A helper that never wakes costs nothing.
 *
 * Claims are tagged with a job generation (one 64-bit atomic: generation in
 * the high half, next part in the low half), so a helper holding a stale job
 * can never take a part of the next one. One job runs at a time; a caller that
 * finds the pool busy (another Python thread, with the GIL released) simply
 * runs the same parts alone, in order.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "pyad_defs.h"

#define PYAD_MAX_HELPERS 15
/* A helper spins this many pauses (about 0.1 ms) for the next job before it
 * sleeps: in a backward pass kernels follow each other by tens of
 * microseconds, and a futex wake-up costs about as much as a small kernel. */
#define PYAD_SPIN 20000

#if defined(__x86_64__) || defined(__i386__)
#define PYAD_PAUSE() __builtin_ia32_pause()
#else
#define PYAD_PAUSE() ((void)0)
#endif

/* The job is published by storing its fields, then `gen` (release); helpers
 * read `gen` (acquire), then the fields. A helper may read the fields of a
 * later job than the generation it saw, but then the job it saw is over and
 * its claims fail, so it never runs a part with the wrong arguments. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_once_t once;
    atomic_flag busy;             /* a caller owns the job slot */
    atomic_uint gen;              /* the current job's generation */
    atomic_int sleepers;          /* helpers waiting on `wake` */
    atomic_uint_fast64_t claim;   /* generation << 32 | next part */
    atomic_size_t finished;       /* parts completed by helpers */
    _Atomic(pyad_task) fn;
    _Atomic(const pyad_ctx *) ctx;
    atomic_size_t n, chunk, parts;
    int helpers;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_ONCE_INIT,
          ATOMIC_FLAG_INIT, 0, 0, 0, 0, NULL, NULL, 0, 0, 0, 0};

/* Claim the next part of job `gen`; returns the part or SIZE_MAX when none is left. */
static size_t claim(unsigned gen, size_t parts) {
    uint_fast64_t cur = atomic_load(&pool.claim);
    for (;;) {
        if ((unsigned)(cur >> 32) != gen || (cur & 0xffffffffu) >= parts)
            return SIZE_MAX;
        if (atomic_compare_exchange_weak(&pool.claim, &cur, cur + 1))
            return (size_t)(cur & 0xffffffffu);
    }
}

static void run_part(pyad_task fn, const pyad_ctx *ctx, size_t n, size_t chunk, size_t p) {
    size_t start = p * chunk;
    size_t len = n - start < chunk ? n - start : chunk;
    fn(ctx, p, start, len);
}

static unsigned next_job(unsigned seen) {
    for (int i = 0; i < PYAD_SPIN; i++) {
        unsigned g = atomic_load(&pool.gen);
        if (g != seen)
            return g;
        PYAD_PAUSE();
    }
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);
    while (atomic_load(&pool.gen) == seen)
        pthread_cond_wait(&pool.wake, &pool.lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return atomic_load(&pool.gen);
}

static void *helper(void *arg) {
    (void)arg;
    unsigned seen = 0;
    for (;;) {
        seen = next_job(seen);
        pyad_task fn = atomic_load_explicit(&pool.fn, memory_order_relaxed);
        const pyad_ctx *ctx = atomic_load_explicit(&pool.ctx, memory_order_relaxed);
        size_t n = atomic_load_explicit(&pool.n, memory_order_relaxed);
        size_t chunk = atomic_load_explicit(&pool.chunk, memory_order_relaxed);
        size_t parts = atomic_load_explicit(&pool.parts, memory_order_relaxed);
        size_t p;
        while ((p = claim(seen, parts)) != SIZE_MAX) {
            run_part(fn, ctx, n, chunk, p);
            atomic_fetch_add(&pool.finished, 1);
        }
    }
    return NULL;
}

static void reset_after_fork(void) {
    /* The child has no helpers, and the lock may have been held by one. */
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    atomic_flag_clear(&pool.busy);
    atomic_store(&pool.sleepers, 0);
    pool.helpers = 0;
}

static void start_helpers(void) {
    /* The CPUs this process may run on (taskset, a container's cpuset), not the
     * machine's: a helper sharing the caller's only CPU spins against it (measured:
     * 2.6x slower pinned to one CPU than with no helper at all). */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        cpus = CPU_COUNT(&allowed);
#endif
    int want = cpus > 1 ? (int)(cpus - 1) : 0;
    if (want > PYAD_MAX_HELPERS)
        want = PYAD_MAX_HELPERS;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < want; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, helper, NULL) != 0)
            break;
        pool.helpers++;
    }
    pthread_attr_destroy(&attr);
    pthread_atfork(NULL, NULL, reset_after_fork);
}

void pyad_run(size_t n, size_t grain, int parallel, pyad_task fn, const pyad_ctx *ctx) {
    if (n == 0)
        return;
    if (!parallel) {
        fn(ctx, 0, 0, n);
        return;
    }
    /* The parts depend on n and grain alone, never on the helpers: a reduction adds
     * its partial sums part by part, so its bits must not change with who runs them
     * (a busy pool, one CPU, a fork). Up to four parts per thread of the largest
     * pool, so a thread that is descheduled mid-job leaves little for the others. */
    size_t chunk = (n + PYAD_MAX_PARTS - 1) / PYAD_MAX_PARTS;
    chunk = (chunk + grain - 1) / grain * grain;
    const size_t parts = (n + chunk - 1) / chunk;
    pthread_once(&pool.once, start_helpers);
    if (pool.helpers == 0 || atomic_flag_test_and_set(&pool.busy)) {
        for (size_t p = 0; p < parts; p++)
            run_part(fn, ctx, n, chunk, p);
        return;
    }

    unsigned gen = atomic_load(&pool.gen) + 1;
    atomic_store_explicit(&pool.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool.ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool.n, n, memory_order_relaxed);
    atomic_store_explicit(&pool.chunk, chunk, memory_order_relaxed);
    atomic_store_explicit(&pool.parts, parts, memory_order_relaxed);
    atomic_store(&pool.finished, 0);
    atomic_store(&pool.claim, (uint_fast64_t)gen << 32);
    atomic_store(&pool.gen, gen);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }

    size_t p, mine = 0;
    while ((p = claim(gen, parts)) != SIZE_MAX) {
        run_part(fn, ctx, n, chunk, p);
        mine++;
    }
    /* Only parts a helper claimed are still running; wait for those alone. */
    for (int i = 0; atomic_load(&pool.finished) != parts - mine; i++) {
        if (i < PYAD_SPIN)
            PYAD_PAUSE();
        else
            sched_yield();
    }
    atomic_flag_clear(&pool.busy);
}
