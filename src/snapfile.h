/* snapfile: a readout as the tables of a snapshot file (JSON text,
 * docs/snapshot-format.rst): what pytracemalloc/snapshot_format.encode()
 * writes for a Snapshot's sites, written here for the live statistics
 * (the endpoint's /snapshot) with no Python object per site.  The Python
 * side writes the header around them and compresses.
 *
 * Contract
 * - Pure C, no lock, rawmem memory, as pprof.h.
 * - Writes `"filenames":[...],"frames":[...],"functions":[...],
 *   "sites":[...]` (no braces), in the version the sites need: 4 (frames
 *   with their function) when there is a site, else no "functions" and
 *   the caller's choice (snapfile_version).  Strings are escaped as
 *   Python's json.dumps does with ensure_ascii: the same text.
 * - Returns 0, or -1 when memory is missing.
 */
#ifndef PYTRACEMALLOC_SNAPFILE_H
#define PYTRACEMALLOC_SNAPFILE_H

#include "bytebuf.h"
#include "readout.h"

/* The file version of the live statistics: the reference encoder's rule
   for sites that all carry function names (4), else 3 when sampled, 1
   when exact (no site, so no domain either). */
int snapfile_version(const readout *r, int sampled);
int snapfile_encode_tables(const readout *r, int version, bytebuf *out);

#endif
