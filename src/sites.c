#include "sites.h"

#include <glib.h>
#include <string.h>

#include "rawmem.h"
#include "u64map.h"

/* Site records, in chunks that never move.  Guarded by sites_mutex for
   creation; see sites.h for the counters. */
tm_site *sites_chunks[SITES_MAX_CHUNKS];
static uint32_t site_limit = 1; /* sites_mutex */
unsigned long sites_generation; /* written under the raw and sites locks */
static u64map site_by_hash;     /* sites_mutex: hash -> first id */
/* sites_mutex: site id << 32 | domain -> the site of the same traceback in
   that domain */
static u64map site_in_domain;

/* Frames: (filename, line) key -> first frame id, id -> frame, and the
   chain of the other frames of that line (other functions: rare, so a
   chain, not a wider key).  All guarded by sites_mutex. */
static u64map frame_by_key;
static tm_frame *frames;
static uint32_t *frame_next_same_line;
static uint32_t frame_next_capacity;
static uint32_t frame_limit = 1;
static uint32_t frame_capacity;
static uint32_t unknown_frame_id;

/* Filenames: hash -> first id, id -> bytes (+ chain).  sites_mutex. */
typedef struct {
    char *utf8;
    size_t length;
    uint64_t hash;
    uint32_t next_same_hash;
} filename_record;
static u64map filename_by_hash;
static filename_record *filenames;
static uint32_t filename_limit = 1;
static uint32_t filename_capacity;

static GMutex sites_mutex;

static uint64_t
nonzero(uint64_t hash)
{
    return hash == 0 ? 1 : hash;
}

static uint64_t
hash_bytes(const char *data, size_t length)
{
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < length; i++) {
        hash = (hash ^ (unsigned char)data[i]) * UINT64_C(0x100000001b3);
    }
    return nonzero(hash);
}

static uint64_t
hash_frame_ids(const uint32_t *frame_ids, uint32_t nframe)
{
    uint64_t hash = UINT64_C(0xcbf29ce484222325) ^ nframe;
    for (uint32_t i = 0; i < nframe; i++) {
        hash = (hash ^ frame_ids[i]) * UINT64_C(0x100000001b3);
        hash ^= hash >> 29;
    }
    return nonzero(hash);
}

/* Grow an id-indexed array so that index `needed` fits.  0 or -1. */
static int
ensure_capacity(void **array, uint32_t *capacity, uint32_t needed,
                size_t item_size)
{
    if (needed < *capacity) {
        return 0;
    }
    uint32_t new_capacity = *capacity ? *capacity * 2 : 256;
    while (new_capacity <= needed) {
        new_capacity *= 2;
    }
    void *grown = rawmem_realloc(*array, (size_t)*capacity * item_size,
                                 (size_t)new_capacity * item_size);
    if (grown == NULL) {
        return -1;
    }
    *array = grown;
    *capacity = new_capacity;
    return 0;
}

int
sites_init(void)
{
    g_mutex_init(&sites_mutex);
    if (u64map_init(&site_by_hash, 1024) < 0 ||
        u64map_init(&site_in_domain, 64) < 0 ||
        u64map_init(&frame_by_key, 1024) < 0 ||
        u64map_init(&filename_by_hash, 256) < 0) {
        return -1;
    }
    return 0;
}

void
sites_lock(void)
{
    g_mutex_lock(&sites_mutex);
}

void
sites_unlock(void)
{
    g_mutex_unlock(&sites_mutex);
}

void
sites_after_fork_child(void)
{
    g_mutex_init(&sites_mutex);
}

uint32_t
sites_intern_filename(const char *utf8, size_t length)
{
    uint64_t hash = hash_bytes(utf8, length);
    u64map_slot *slot = u64map_find(&filename_by_hash, hash);
    uint32_t id = slot ? (uint32_t)slot->value : 0;
    for (; id != 0; id = filenames[id].next_same_hash) {
        if (filenames[id].length == length &&
            memcmp(filenames[id].utf8, utf8, length) == 0) {
            return id;
        }
    }
    id = filename_limit;
    if (ensure_capacity((void **)&filenames, &filename_capacity, id,
                        sizeof(filename_record)) < 0) {
        return 0;
    }
    char *copy = rawmem_malloc(length + 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, utf8, length);
    copy[length] = '\0';
    uint32_t chain = slot ? (uint32_t)slot->value : 0;
    if (u64map_put(&filename_by_hash, hash, id) < 0) {
        rawmem_free(copy, length + 1);
        return 0;
    }
    filenames[id] = (filename_record){copy, length, hash, chain};
    filename_limit++;
    return id;
}

uint32_t
sites_intern_frame(uint32_t filename_id, int lineno, uint32_t function_id)
{
    if (filename_id == 0) {
        return 0;
    }
    uint64_t key = ((uint64_t)filename_id << 32) | (uint32_t)lineno;
    u64map_slot *slot = u64map_find(&frame_by_key, key);
    uint32_t head = slot != NULL ? (uint32_t)slot->value : 0;
    for (uint32_t id = head; id != 0; id = frame_next_same_line[id]) {
        if (frames[id].function_id == function_id) {
            return id;
        }
    }
    uint32_t id = frame_limit;
    if (ensure_capacity((void **)&frames, &frame_capacity, id,
                        sizeof(tm_frame)) < 0 ||
        ensure_capacity((void **)&frame_next_same_line, &frame_next_capacity,
                        id, sizeof(uint32_t)) < 0 ||
        (head == 0 && u64map_put(&frame_by_key, key, id) < 0)) {
        return 0;
    }
    frames[id] = (tm_frame){filename_id, lineno, function_id,
                            head != 0 ? head : id};
    frame_next_same_line[id] = head != 0 ? frame_next_same_line[head] : 0;
    if (head != 0) {
        frame_next_same_line[head] = id;
    }
    frame_limit++;
    return id;
}

uint32_t
sites_unknown_frame(void)
{
    if (unknown_frame_id == 0) {
        static const char unknown[] = "<unknown>";
        uint32_t filename_id =
            sites_intern_filename(unknown, sizeof(unknown) - 1);
        unknown_frame_id = sites_intern_frame(filename_id, 0, 0);
    }
    return unknown_frame_id;
}

static int
equal_frames(const tm_site *site, uint32_t domain, const uint32_t *frame_ids,
             uint32_t nframe)
{
    return site->nframe == nframe && site->domain == domain &&
           memcmp(site->frames, frame_ids, nframe * sizeof(uint32_t)) == 0;
}

uint32_t
sites_intern_traceback(const uint32_t *frame_ids, uint32_t nframe)
{
    return sites_intern_traceback_in_domain(0, frame_ids, nframe);
}

uint32_t
sites_with_domain(uint32_t site_id, uint32_t domain)
{
    tm_site *site = site_get(site_id);
    if (site->domain == domain) {
        return site_id;
    }
    uint64_t key = ((uint64_t)site_id << 32) | domain;
    u64map_slot *slot = u64map_find(&site_in_domain, key);
    if (slot != NULL && slot->value != 0) {
        return (uint32_t)slot->value;
    }
    uint32_t id =
        sites_intern_traceback_in_domain(domain, site->frames, site->nframe);
    if (id != 0 && u64map_put(&site_in_domain, key, id) < 0) {
        return 0;
    }
    return id;
}

uint32_t
sites_intern_traceback_in_domain(uint32_t domain, const uint32_t *frame_ids,
                                 uint32_t nframe)
{
    uint64_t hash = hash_frame_ids(frame_ids, nframe) ^
                    ((uint64_t)domain * UINT64_C(0x9E3779B97F4A7C15));
    hash = nonzero(hash);
    u64map_slot *slot = u64map_find(&site_by_hash, hash);
    uint32_t chain = slot ? (uint32_t)slot->value : 0;
    for (uint32_t id = chain; id != 0; id = site_get(id)->next_same_hash) {
        if (equal_frames(site_get(id), domain, frame_ids, nframe)) {
            return id;
        }
    }

    uint32_t id = site_limit;
    uint32_t chunk = id >> SITES_CHUNK_BITS;
    if (chunk >= SITES_MAX_CHUNKS) {
        return 0;
    }
    if (sites_chunks[chunk] == NULL) {
        sites_chunks[chunk] = rawmem_calloc(SITES_CHUNK_SIZE, sizeof(tm_site));
        if (sites_chunks[chunk] == NULL) {
            return 0;
        }
    }
    tm_site *site = site_get(id);
    uint32_t *stored = &site->inline_frame;
    if (nframe > 1) {
        stored = rawmem_malloc(nframe * sizeof(uint32_t));
        if (stored == NULL) {
            return 0;
        }
    }
    if (u64map_put(&site_by_hash, hash, id) < 0) {
        if (nframe > 1) {
            rawmem_free(stored, nframe * sizeof(uint32_t));
        }
        return 0;
    }
    memcpy(stored, frame_ids, nframe * sizeof(uint32_t));
    *site = (tm_site){
        .hash = hash,
        .next_same_hash = chain,
        .nframe = nframe,
        .domain = domain,
        .frames = stored,
    };
    if (nframe == 1) {
        site->inline_frame = frame_ids[0];
        site->frames = &site->inline_frame;
    }
    site_limit++;
    return id;
}

uint32_t
sites_site_limit(void)
{
    return site_limit;
}

uint32_t
sites_frame_limit(void)
{
    return frame_limit;
}

tm_frame
sites_frame(uint32_t frame_id)
{
    return frames[frame_id];
}

tm_filename
sites_filename(uint32_t filename_id)
{
    return (tm_filename){filenames[filename_id].utf8,
                         filenames[filename_id].length};
}

void
sites_reset(void)
{
    for (uint32_t chunk = 0; chunk < SITES_MAX_CHUNKS; chunk++) {
        tm_site *records = sites_chunks[chunk];
        if (records == NULL) {
            continue;
        }
        for (uint32_t i = 0; i < SITES_CHUNK_SIZE; i++) {
            if (records[i].nframe > 1) {
                rawmem_free(records[i].frames,
                            records[i].nframe * sizeof(uint32_t));
            }
        }
        rawmem_free(records, SITES_CHUNK_SIZE * sizeof(tm_site));
        sites_chunks[chunk] = NULL;
    }
    site_limit = 1;
    for (uint32_t id = 1; id < filename_limit; id++) {
        rawmem_free(filenames[id].utf8, filenames[id].length + 1);
    }
    rawmem_free(filenames,
                (size_t)filename_capacity * sizeof(filename_record));
    filenames = NULL;
    filename_capacity = 0;
    filename_limit = 1;
    rawmem_free(frames, (size_t)frame_capacity * sizeof(tm_frame));
    frames = NULL;
    frame_capacity = 0;
    rawmem_free(frame_next_same_line,
                (size_t)frame_next_capacity * sizeof(uint32_t));
    frame_next_same_line = NULL;
    frame_next_capacity = 0;
    frame_limit = 1;
    unknown_frame_id = 0;
    u64map_reset(&site_by_hash, 1024);
    u64map_reset(&site_in_domain, 64);
    u64map_reset(&frame_by_key, 1024);
    u64map_reset(&filename_by_hash, 256);
    sites_generation++;
}
