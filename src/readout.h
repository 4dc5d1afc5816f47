/* readout: a consistent copy of the statistics, taken under the locks in
 * O(sites + frames + filenames) and never O(blocks).
 *
 * Contract
 * - readout_take() (GIL held) locks the tables, copies what the read-outs
 *   need into plain C arrays, and unlocks: Python objects are built from
 *   the copy afterwards, with no lock held, since building them allocates.
 * - Sites with no live block are left out.
 * - Returns 0, or -1 when memory is missing (nothing to free then).
 */
#ifndef PYTRACEMALLOC_READOUT_H
#define PYTRACEMALLOC_READOUT_H

#include <stddef.h>
#include <stdint.h>

#include "sites.h"

typedef struct {
    size_t size;
    size_t count;
    double variance; /* of the size estimate (sampled mode), else 0 */
    uint32_t domain;
    uint32_t nframe;      /* frames kept in the copy */
    uint32_t first_frame; /* index into frame_ids */
} readout_site;

typedef struct {
    uint32_t n_filenames; /* valid filename ids: 1..n_filenames-1 */
    char *filename_bytes;
    size_t *filename_offsets; /* n_filenames + 1 entries */
    uint32_t n_frames;        /* valid frame ids: 1..n_frames-1 */
    tm_frame *frames;
    uint32_t n_sites; /* sites with live blocks */
    readout_site *sites;
    uint32_t *frame_ids; /* every site's frames, most recent first */
} readout;

/* with_tracebacks: copy every frame of each site, else the most recent. */
int readout_take(readout *out, int with_tracebacks);
/* A readout of the one site of a traced block: 1 when the block at that
   address is traced, 0 when not (nothing to free), -1 without memory. */
int readout_block(uintptr_t address, readout *out);
void readout_free(readout *out);
/* Leave out the sites whose most recent frame is in a file whose name
   starts with `prefix` (length UTF-8 bytes): pytracemalloc's own Python
   code, which a snapshot counts as the tracer's memory.  *dropped_size is
   their size. */
void readout_drop_files(readout *r, const char *prefix, size_t length,
                        size_t *dropped_size);

static inline const char *
readout_filename(const readout *r, uint32_t id, size_t *length)
{
    *length = r->filename_offsets[id + 1] - r->filename_offsets[id];
    return r->filename_bytes + r->filename_offsets[id];
}

#endif
