#include "hooks.h" /* first: Python.h sets the C library's feature macros */
#include "readout.h"
#include "sampling.h"

#include <stdlib.h>
#include <string.h>

void
readout_free(readout *out)
{
    free(out->filename_bytes);
    free(out->filename_offsets);
    free(out->frames);
    free(out->sites);
    free(out->frame_ids);
    memset(out, 0, sizeof(*out));
}

static int
copy_names_and_frames(readout *out)
{
    uint32_t n_filenames = 0;
    /* Name ids are dense: probe the name count via the frames. */
    out->n_frames = sites_frame_limit();
    out->frames = malloc((size_t)out->n_frames * sizeof(tm_frame));
    if (out->frames == NULL) {
        return -1;
    }
    for (uint32_t id = 1; id < out->n_frames; id++) {
        out->frames[id] = sites_frame(id);
        if (out->frames[id].filename_id + 1 > n_filenames) {
            n_filenames = out->frames[id].filename_id + 1;
        }
        if (out->frames[id].function_id + 1 > n_filenames) {
            n_filenames = out->frames[id].function_id + 1;
        }
    }
    if (n_filenames == 0) {
        n_filenames = 1;
    }
    out->n_filenames = n_filenames;
    out->filename_offsets = calloc((size_t)n_filenames + 1, sizeof(size_t));
    if (out->filename_offsets == NULL) {
        return -1;
    }
    size_t total = 0;
    for (uint32_t id = 1; id < n_filenames; id++) {
        out->filename_offsets[id] = total;
        total += sites_filename(id).length;
    }
    out->filename_offsets[n_filenames] = total;
    out->filename_bytes = malloc(total + 1);
    if (out->filename_bytes == NULL) {
        return -1;
    }
    for (uint32_t id = 1; id < n_filenames; id++) {
        tm_filename name = sites_filename(id);
        memcpy(out->filename_bytes + out->filename_offsets[id], name.utf8,
               name.length);
    }
    return 0;
}

static int
copy_sites(readout *out, int with_tracebacks)
{
    uint32_t limit = sites_site_limit();
    size_t n_live = 0;
    size_t n_frame_ids = 0;
    for (uint32_t id = 1; id < limit; id++) {
        tm_site *site = site_get(id);
        if (site->gil_count + site->raw_count != 0) {
            n_live++;
            n_frame_ids += with_tracebacks ? site->nframe : 1;
        }
    }
    out->sites = malloc((n_live ? n_live : 1) * sizeof(readout_site));
    out->frame_ids =
        malloc((n_frame_ids ? n_frame_ids : 1) * sizeof(uint32_t));
    if (out->sites == NULL || out->frame_ids == NULL) {
        return -1;
    }
    uint32_t n = 0;
    uint32_t next_frame = 0;
    for (uint32_t id = 1; id < limit; id++) {
        tm_site *site = site_get(id);
        size_t count = site->gil_count + site->raw_count;
        if (count == 0) {
            continue;
        }
        uint32_t nframe = with_tracebacks ? site->nframe : 1;
        out->sites[n] = (readout_site){
            .size = site->gil_size + site->raw_size,
            .count = sampling_count(count),
            /* Rounding leaves a residue where blocks came and went. */
            .variance = site->gil_variance + site->raw_variance > 0.0
                            ? site->gil_variance + site->raw_variance
                            : 0.0,
            .domain = site->domain,
            .nframe = nframe,
            .first_frame = next_frame,
        };
        memcpy(&out->frame_ids[next_frame], site->frames,
               nframe * sizeof(uint32_t));
        next_frame += nframe;
        n++;
    }
    out->n_sites = n;
    return 0;
}

int
readout_take(readout *out, int with_tracebacks)
{
    memset(out, 0, sizeof(*out));
    hooks_lock_tables();
    int status = copy_names_and_frames(out);
    if (status == 0) {
        status = copy_sites(out, with_tracebacks);
    }
    hooks_unlock_tables();
    if (status < 0) {
        readout_free(out);
    }
    return status;
}

/* Copy one site, renumbering its frames 1..nframe, their filenames
   1..nframe and their function names nframe+1..2*nframe. */
static int
copy_one_site(readout *out, tm_site *site, size_t size)
{
    uint32_t nframe = site->nframe;
    uint32_t n_names = 2 * nframe;
    out->n_frames = nframe + 1;
    out->n_filenames = n_names + 1;
    out->n_sites = 1;
    out->frames = calloc(nframe + 1, sizeof(tm_frame));
    out->filename_offsets = calloc(n_names + 2, sizeof(size_t));
    out->sites = malloc(sizeof(readout_site));
    out->frame_ids = malloc(nframe * sizeof(uint32_t));
    if (out->frames == NULL || out->filename_offsets == NULL ||
        out->sites == NULL || out->frame_ids == NULL) {
        return -1;
    }
    size_t total = 0;
    for (uint32_t name = 0; name < n_names; name++) {
        tm_frame frame = sites_frame(site->frames[name % nframe]);
        uint32_t id = name < nframe ? frame.filename_id : frame.function_id;
        out->filename_offsets[name + 1] = total;
        total += id != 0 ? sites_filename(id).length : 0;
    }
    out->filename_offsets[n_names + 1] = total;
    out->filename_bytes = malloc(total + 1);
    if (out->filename_bytes == NULL) {
        return -1;
    }
    for (uint32_t name = 0; name < n_names; name++) {
        tm_frame frame = sites_frame(site->frames[name % nframe]);
        uint32_t id = name < nframe ? frame.filename_id : frame.function_id;
        if (id != 0) {
            tm_filename text = sites_filename(id);
            memcpy(out->filename_bytes + out->filename_offsets[name + 1],
                   text.utf8, text.length);
        }
    }
    for (uint32_t k = 0; k < nframe; k++) {
        tm_frame frame = sites_frame(site->frames[k]);
        out->frames[k + 1] = (tm_frame){
            k + 1, frame.lineno, frame.function_id != 0 ? nframe + k + 1 : 0,
            k + 1};
        out->frame_ids[k] = k + 1;
    }
    out->sites[0] = (readout_site){.size = size,
                                   .count = 1,
                                   .domain = site->domain,
                                   .nframe = nframe,
                                   .first_frame = 0};
    return 0;
}

int
readout_block(uintptr_t address, readout *out)
{
    memset(out, 0, sizeof(*out));
    size_t size = 0;
    uint32_t site_id = 0;
    hooks_lock_tables();
    int found = traces_lookup(hooks_gil_table(), address, &size, &site_id) ||
                traces_lookup(hooks_raw_table(), address, &size, &site_id);
    int status = found ? copy_one_site(out, site_get(site_id), size) : 0;
    hooks_unlock_tables();
    if (status < 0) {
        readout_free(out);
        return -1;
    }
    return found;
}


void
readout_drop_files(readout *r, const char *prefix, size_t length,
                   size_t *dropped_size)
{
    uint32_t kept = 0;
    *dropped_size = 0;
    for (uint32_t i = 0; i < r->n_sites; i++) {
        readout_site *site = &r->sites[i];
        size_t n;
        const char *filename = readout_filename(
            r, r->frames[r->frame_ids[site->first_frame]].filename_id, &n);
        if (n >= length && memcmp(filename, prefix, length) == 0) {
            *dropped_size += site->size;
        }
        else {
            r->sites[kept++] = *site;
        }
    }
    r->n_sites = kept;
}
