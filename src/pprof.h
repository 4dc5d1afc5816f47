/* pprof: a readout as a heap profile in pprof's profile.proto (the
 * uncompressed bytes; the caller gzips them).  What the profile holds is
 * pytracemalloc/pprof.py's doc: that module is the reference encoder (for
 * snapshots and diffs), this one encodes the live statistics for the
 * endpoint's scrapes, with no Python object per site.  For the same sites
 * both write the same bytes (tests/test_live_encoders.py).
 *
 * Contract
 * - Pure C, no lock: it reads a readout (a private copy) and writes into a
 *   bytebuf.  Its temporary tables come from rawmem (libc).
 * - Returns 0, or -1 when memory is missing (the buffer then holds
 *   garbage; the caller frees it).
 */
#ifndef PYTRACEMALLOC_PPROF_H
#define PYTRACEMALLOC_PPROF_H

#include <stdint.h>

#include "bytebuf.h"
#include "readout.h"

/* The label of a domain other than 0 (pytracemalloc.domains.domain_name):
   UTF-8 text. */
typedef struct {
    uint32_t domain;
    const char *name;
    size_t length;
} pprof_domain_name;

typedef struct {
    int64_t time_nanos;
    int64_t period; /* sample_bytes in sampled mode, else 1 */
    const pprof_domain_name *domain_names;
    size_t n_domain_names;
} pprof_options;

int pprof_encode(const readout *r, const pprof_options *options,
                 bytebuf *out);

#endif
