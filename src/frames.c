#include "frames.h"

#include <string.h>

#include "rawmem.h"
#include "sites.h"
#include "u64map.h"

/* Per-code cache, hung on the code object's co_extra slot through 3.13,
   held in cache_of_code from 3.14 on (compat.h says why).  Guarded by the
   main GIL. */
typedef struct code_cache {
    PyCodeObject *code; /* borrowed: the cache dies with it */
    struct code_cache *prev;
    struct code_cache *next;
    uint32_t filename_id;
    uint32_t function_id; /* co_qualname's name id, 0 when it has none */
    uint32_t n_ids;
    int detached;   /* being dropped by frames_drop_caches */
    int32_t *lines; /* line of each code unit, decoded at the first miss */
    /* per code unit + 1 (slot 0 is unit -1): site id when nframe is 1,
       frame id otherwise; 0 when not computed yet */
    uint32_t ids[];
} code_cache;

static Py_ssize_t frames_code_extra_index = -1; /* set once at import */
/* 3.14+: code object address -> its cache (the main GIL). */
static u64map cache_of_code;
int frames_nframe = 1;                   /* written with the GIL */
static code_cache *all_caches;           /* GIL */
static size_t live_caches;               /* GIL */
static uint32_t unknown_site;            /* sites lock */
/* Where co_extra arrays come from (hooks.h: never the top of the chain).
   Set once at init; the allocator it points to is written with the GIL. */
static const PyMemAllocatorEx *extra_allocator;

/* Traceback buffers.  The GIL paths alternate between two, so that a
   traceback identical to the previous one (allocations in a loop) is
   recognized while it is read, and reuses its site with no hashing; both,
   and the previous traceback's length and site, are guarded by the GIL.
   The RAW path without the GIL has its own, guarded by the raw lock. */
static uint32_t gil_frame_buffers[2][FRAMES_MAX_NFRAME];
static int gil_buffer_in_use;
static uint32_t previous_nframe; /* 0: none */
static uint32_t previous_site;
static uint32_t raw_frame_buffer[FRAMES_MAX_NFRAME];

/* The memo (the main GIL): ids by instruction pointer.  With nframe > 1
   it is indexed by the frame's address and holds frame ids; with nframe 1,
   by the instruction and holds site ids (frames_memo_of_instr, inline in
   frames.h); a change between the two empties it (frames_drop_caches).
   A frame found at the instruction its entry recorded has the entry's id:
   an instruction pointer points into the bytecode of one code object, and
   the id depends on the code and the instruction alone.  So the callers of
   a deep stack, waiting in the same calls, cost a load and a compare each.
   Indexed by the frame's address, not its depth: a call or a return shifts
   every depth but leaves the callers' frames where they are.
   Entries point into the bytecode of code objects that carry a cache
   only, so that free_code_cache() clears them before that memory can be
   reused by another code object.  An entry is written for complete frames
   only (compat_frame_is_complete), and whether a frame is complete depends
   on its code and instruction alone (and on its owner, which differs
   between two frames of the same code at the same instruction only in a
   generator's prologue, where nothing allocates): a hit is a complete
   frame, and the walk tests completeness on misses only.  An empty entry
   holds memo_empty, which is no frame's instruction. */
frames_memo_entry frames_memo[1u << FRAMES_MEMO_BITS];
static const char memo_empty;

static void
memo_clear(void)
{
    for (size_t i = 0; i < (1u << FRAMES_MEMO_BITS); i++) {
        frames_memo[i].instr = &memo_empty;
    }
}

static inline frames_memo_entry *
memo_entry_of(compat_frame *frame)
{
    /* Frames are at least 64 bytes apart on the data stack. */
    return &frames_memo[((uintptr_t)frame >> 6) &
                        ((1u << FRAMES_MEMO_BITS) - 1)];
}

/* Recent tracebacks by hash (the GIL): a traceback seen lately finds its
   site with no lock and no probe of the sites table.  The site's own
   frames confirm a match: site records never move and their frames never
   change until sites_reset(), which frames_drop_caches() precedes. */
#define RECENT_BITS 10
typedef struct {
    uint64_t hash;
    uint32_t site;
} recent_entry;
static recent_entry recent_sites[1u << RECENT_BITS];

/* Bytes of a cache's line array (one int per code unit, at least one). */
static size_t
lines_bytes(const code_cache *cache)
{
    uint32_t n_units = cache->n_ids - 1;
    return (size_t)(n_units ? n_units : 1) * sizeof(int32_t);
}

static size_t
cache_bytes(uint32_t n_ids)
{
    return sizeof(code_cache) + (size_t)n_ids * sizeof(uint32_t);
}

/* Free a cache and its line array. */
static void
free_cache(code_cache *cache)
{
    if (cache->lines != NULL) {
        rawmem_free(cache->lines, lines_bytes(cache));
    }
    rawmem_free(cache, cache_bytes(cache->n_ids));
}

static void
unlink_cache(code_cache *cache)
{
    live_caches--;
    if (cache->prev != NULL) {
        cache->prev->next = cache->next;
    }
    else {
        all_caches = cache->next;
    }
    if (cache->next != NULL) {
        cache->next->prev = cache->prev;
    }
}

/* A code object carrying a cache is being deallocated (the GIL). */
static void
release_cache(code_cache *cache)
{
    unlink_cache(cache);
    /* The code's address may be reused by a new code object. */
    for (size_t i = 0; i < (1u << FRAMES_MEMO_BITS); i++) {
        if (compat_code_holds_instr(cache->code, frames_memo[i].instr)) {
            frames_memo[i].instr = &memo_empty;
        }
    }
    free_cache(cache);
}

/* co_extra destructor (through 3.13): called by CPython (with the GIL)
   when a code object carrying a cache is deallocated. */
static void
free_code_cache(void *data)
{
    code_cache *cache = data;
    if (cache == NULL || cache->detached) {
        /* Some CPython versions call this from PyCode_SetExtra on the
           value being replaced: frames_drop_caches frees it itself. */
        return;
    }
    release_cache(cache);
}

/* The code watcher (3.14+): every code object of the main interpreter
   that dies, cached or not. */
static void
code_destroyed(PyCodeObject *code)
{
    uint64_t cache;
    if (live_caches != 0 &&
        u64map_pop(&cache_of_code, (uintptr_t)code, &cache)) {
        release_cache((code_cache *)(uintptr_t)cache);
    }
}

void
frames_set_extra_allocator(const PyMemAllocatorEx *below)
{
    extra_allocator = below;
}

int
frames_init(void)
{
    memo_clear();
    if (!COMPAT_CODE_CACHE_IN_CO_EXTRA) {
        return u64map_init(&cache_of_code, 64) < 0 ||
                       compat_watch_code_deaths(code_destroyed) < 0
                   ? -1
                   : 0;
    }
    frames_code_extra_index = compat_request_code_extra_index(free_code_cache);
    return frames_code_extra_index < 0 ? -1 : 0;
}

void
frames_set_max_nframe(int nframe)
{
    int mode_changes = (nframe == 1) != (frames_nframe == 1);
    frames_nframe = nframe;
    if (mode_changes) {
        frames_drop_caches();
    }
}

size_t
frames_cache_count(void)
{
    return live_caches;
}

int
frames_max_nframe(void)
{
    return frames_nframe;
}

void
frames_drop_caches(void)
{
    while (all_caches != NULL) {
        code_cache *cache = all_caches;
        unlink_cache(cache);
        cache->detached = 1;
        if (COMPAT_CODE_CACHE_IN_CO_EXTRA) {
            /* Clearing a slot allocates nothing and cannot fail. */
            (void)compat_code_set_extra_below(
                cache->code, frames_code_extra_index, NULL, extra_allocator);
        }
        free_cache(cache);
    }
    if (!COMPAT_CODE_CACHE_IN_CO_EXTRA) {
        /* Out of memory, the map is emptied in place: either way empty. */
        (void)u64map_reset(&cache_of_code, 64);
    }
    sites_lock();
    unknown_site = 0;
    sites_unlock();
    memo_clear();
    previous_nframe = 0;
    memset(recent_sites, 0, sizeof(recent_sites));
}

/* ---- reading immutable code data ---------------------------------------- */

static int
read_varint(const uint8_t **cursor, const uint8_t *end)
{
    unsigned int value = 0;
    unsigned int shift = 0;
    while (*cursor < end) {
        uint8_t byte = *(*cursor)++;
        value |= (unsigned int)(byte & 63) << shift;
        shift += 6;
        if (!(byte & 64) || shift > 30) {
            break;
        }
    }
    return (int)value;
}

static int
read_signed_varint(const uint8_t **cursor, const uint8_t *end)
{
    unsigned int value = (unsigned int)read_varint(cursor, end);
    return (value & 1) ? -(int)(value >> 1) : (int)(value >> 1);
}

/* Walk the 3.11+ location table (Objects/locations.md in CPython): each
   entry covers 1-8 code units and moves the current line by a delta.  With
   `lines`, store the line of every unit (0 for a unit with no line) and
   return 0; without, return the line of `unit`. */
static int
walk_line_table(PyCodeObject *code, int unit, int32_t *lines, uint32_t n_units)
{
    const uint8_t *cursor =
        (const uint8_t *)PyBytes_AS_STRING(code->co_linetable);
    const uint8_t *end = cursor + PyBytes_GET_SIZE(code->co_linetable);
    int line = code->co_firstlineno;
    int start = 0;
    while (cursor < end) {
        uint8_t first = *cursor++;
        int kind = (first >> 3) & 15;
        int length = (first & 7) + 1;
        int entry_line = line;
        int has_line = 1;
        if (kind == 15) {
            has_line = 0;
        }
        else if (kind == 14) {
            entry_line += read_signed_varint(&cursor, end);
            read_varint(&cursor, end);
            read_varint(&cursor, end);
            read_varint(&cursor, end);
        }
        else if (kind == 13) {
            entry_line += read_signed_varint(&cursor, end);
        }
        else if (kind >= 10) {
            entry_line += kind - 10;
            cursor += 2;
        }
        else {
            cursor += 1;
        }
        if (has_line) {
            line = entry_line;
        }
        if (lines != NULL) {
            for (int u = start; u < start + length && (uint32_t)u < n_units;
                 u++) {
                lines[u] = has_line ? line : 0;
            }
        }
        else if (unit < start + length) {
            return has_line ? line : 0;
        }
        start += length;
    }
    return 0;
}

int
frames_code_line(PyCodeObject *code, int unit)
{
    if (unit < 0) {
        return code->co_firstlineno;
    }
    return walk_line_table(code, unit, NULL, 0);
}

/* Write the UTF-8 form of a str into buffer (at most capacity bytes) with
   no Python call: lone surrogates become U+FFFD.  Returns the length. */
static size_t
filename_utf8(PyObject *filename, char *buffer, size_t capacity)
{
    /* PyUnicode_READY would allocate (3.11): a name not ready is left
       empty rather than made ready from inside a hook. */
    if (!PyUnicode_Check(filename) || !PyUnicode_IS_READY(filename)) {
        return 0;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(filename);
    if (PyUnicode_IS_ASCII(filename)) {
        size_t n = (size_t)length < capacity ? (size_t)length : capacity;
        memcpy(buffer, PyUnicode_DATA(filename), n);
        return n;
    }
    int kind = PyUnicode_KIND(filename);
    const void *data = PyUnicode_DATA(filename);
    size_t out = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch >= 0xD800 && ch <= 0xDFFF) {
            ch = 0xFFFD;
        }
        char encoded[4];
        size_t n;
        if (ch < 0x80) {
            encoded[0] = (char)ch;
            n = 1;
        }
        else if (ch < 0x800) {
            encoded[0] = (char)(0xC0 | (ch >> 6));
            encoded[1] = (char)(0x80 | (ch & 0x3F));
            n = 2;
        }
        else if (ch < 0x10000) {
            encoded[0] = (char)(0xE0 | (ch >> 12));
            encoded[1] = (char)(0x80 | ((ch >> 6) & 0x3F));
            encoded[2] = (char)(0x80 | (ch & 0x3F));
            n = 3;
        }
        else {
            encoded[0] = (char)(0xF0 | (ch >> 18));
            encoded[1] = (char)(0x80 | ((ch >> 12) & 0x3F));
            encoded[2] = (char)(0x80 | ((ch >> 6) & 0x3F));
            encoded[3] = (char)(0x80 | (ch & 0x3F));
            n = 4;
        }
        if (out + n > capacity) {
            break;
        }
        memcpy(buffer + out, encoded, n);
        out += n;
    }
    return out;
}

/* Intern the filename and the qualified name of a code object, under one
   take of the sites lock: *function_id is 0 when the code has no usable
   name.  Returns the filename id (0 when memory is missing). */
static uint32_t
intern_code_names(PyCodeObject *code, uint32_t *function_id)
{
    char filename[4096];
    char qualname[1024];
    size_t filename_length =
        filename_utf8(code->co_filename, filename, sizeof(filename));
    size_t qualname_length = filename_utf8(compat_code_qualname(code),
                                           qualname, sizeof(qualname));
    sites_lock();
    uint32_t id = sites_intern_filename(filename, filename_length);
    *function_id = qualname_length != 0
                       ? sites_intern_filename(qualname, qualname_length)
                       : 0;
    sites_unlock();
    return id;
}

static uint32_t
intern_frame_of(uint32_t filename_id, uint32_t function_id,
                PyCodeObject *code, int unit)
{
    int line = frames_code_line(code, unit);
    sites_lock();
    uint32_t id = sites_intern_frame(filename_id, line, function_id);
    sites_unlock();
    return id;
}

static uint32_t
intern_single_frame_site(uint32_t frame_id)
{
    if (frame_id == 0) {
        return 0;
    }
    sites_lock();
    uint32_t id = sites_intern_traceback(&frame_id, 1);
    sites_unlock();
    return id;
}

static uint32_t
get_unknown_site(void)
{
    sites_lock();
    if (unknown_site == 0) {
        uint32_t frame_id = sites_unknown_frame();
        if (frame_id != 0) {
            unknown_site = sites_intern_traceback(&frame_id, 1);
        }
    }
    uint32_t id = unknown_site;
    sites_unlock();
    return id;
}

/* ---- caches (GIL) ---------------------------------------------------------
 */

/* Create the cache of a code object seen for the first time; NULL when
   memory is missing or the slot cannot be set. */
static code_cache *
create_cache(PyCodeObject *code)
{
    code_cache *cache;
    Py_ssize_t units = compat_code_units(code);
    if (units < 0 || units >= UINT32_MAX - 1) {
        return NULL;
    }
    uint32_t n_ids = (uint32_t)units + 1;
    uint32_t function_id;
    uint32_t filename_id = intern_code_names(code, &function_id);
    if (filename_id == 0) {
        return NULL;
    }
    cache = rawmem_calloc(1, cache_bytes(n_ids));
    if (cache == NULL) {
        return NULL;
    }
    cache->code = code;
    cache->filename_id = filename_id;
    cache->function_id = function_id;
    cache->n_ids = n_ids;
    if (COMPAT_CODE_CACHE_IN_CO_EXTRA
            ? compat_code_set_extra_below(code, frames_code_extra_index, cache,
                                          extra_allocator) < 0
            : u64map_put(&cache_of_code, (uintptr_t)code,
                         (uintptr_t)cache) < 0) {
        rawmem_free(cache, cache_bytes(n_ids));
        return NULL;
    }
    live_caches++;
    cache->next = all_caches;
    if (all_caches != NULL) {
        all_caches->prev = cache;
    }
    all_caches = cache;
    return cache;
}

static inline code_cache *
get_cache(PyCodeObject *code)
{
    code_cache *cache;
    if (COMPAT_CODE_CACHE_IN_CO_EXTRA) {
        cache = compat_code_get_extra(code, frames_code_extra_index);
    }
    else {
        u64map_slot *slot = u64map_find(&cache_of_code, (uintptr_t)code);
        cache = slot != NULL ? (code_cache *)(uintptr_t)slot->value : NULL;
    }
    return cache != NULL ? cache : create_cache(code);
}

/* The frame id of a unit of a cached code object.  The first miss decodes
   the whole line table into the cache (once per code object, not once per
   allocating instruction: a module body of thousands of lines would
   otherwise be scanned again at each of its allocating lines). */
static uint32_t
intern_cached_frame(code_cache *cache, int unit)
{
    int line;
    if (unit < 0) {
        line = cache->code->co_firstlineno;
    }
    else {
        if (cache->lines == NULL) {
            cache->lines = rawmem_malloc(lines_bytes(cache));
            if (cache->lines != NULL) {
                walk_line_table(cache->code, 0, cache->lines,
                                cache->n_ids - 1);
            }
        }
        line = cache->lines != NULL ? cache->lines[unit]
                                    : frames_code_line(cache->code, unit);
    }
    sites_lock();
    uint32_t id =
        sites_intern_frame(cache->filename_id, line, cache->function_id);
    sites_unlock();
    return id;
}

/* The slot of a frame's code unit in its code's cache (unit -1, or one
   out of range, takes slot 0). */
static inline uint32_t
cache_slot(code_cache *cache, compat_frame *frame)
{
    int unit = compat_frame_lasti(frame);
    if (unit < -1 || (uint32_t)(unit + 1) >= cache->n_ids) {
        unit = -1;
    }
    return (uint32_t)(unit + 1);
}

/* Frame id of a frame read without caches: immutable code data only. */
static uint32_t
uncached_frame_id(compat_frame *frame)
{
    PyCodeObject *code = compat_frame_code(frame);
    uint32_t function_id;
    uint32_t filename_id = intern_code_names(code, &function_id);
    return intern_frame_of(filename_id, function_id, code,
                           compat_frame_lasti(frame));
}

/* The uncached path's memo (the raw lock, as raw_frame_buffer): frame ids
   by code object and instruction.  A thread that allocates without the
   GIL (a C library working between Py_BEGIN/END_ALLOW_THREADS, with native
   tracing) would otherwise encode the filename and decode the line table
   at every allocation.  No code object can be asked here to tell us it
   died, so an entry also holds the code's filename and name objects and
   first line: a different function born at a dead one's address misses
   (the same function compiled again from the same source, at the same
   address, has the same lines).  Stale after sites_reset: the
   generation. */
typedef struct {
    const PyCodeObject *code;
    const PyObject *filename;
    const PyObject *qualname;
    int firstlineno;
    int lasti;
    unsigned long generation;
    uint32_t id;
    uint32_t single_site; /* the traceback of this frame alone; 0: not yet */
} uncached_memo_entry;

#define UNCACHED_MEMO_SIZE 256
static uncached_memo_entry uncached_memo[UNCACHED_MEMO_SIZE];

static uncached_memo_entry *
uncached_memo_of(compat_frame *frame)
{
    PyCodeObject *code = compat_frame_code(frame);
    int lasti = compat_frame_lasti(frame);
    uncached_memo_entry *entry =
        &uncached_memo[(((uintptr_t)code >> 4) ^ (uintptr_t)lasti * 31u) &
                       (UNCACHED_MEMO_SIZE - 1)];
    const PyObject *qualname = compat_code_qualname(code);
    if (entry->code == code && entry->lasti == lasti &&
        entry->generation == sites_generation && entry->id != 0 &&
        entry->filename == code->co_filename && entry->qualname == qualname &&
        entry->firstlineno == code->co_firstlineno) {
        return entry;
    }
    uint32_t id = uncached_frame_id(frame);
    if (id == 0) {
        return NULL;
    }
    entry->code = code;
    entry->filename = code->co_filename;
    entry->qualname = qualname;
    entry->firstlineno = code->co_firstlineno;
    entry->lasti = lasti;
    entry->generation = sites_generation;
    entry->id = id;
    entry->single_site = 0;
    return entry;
}

static uint32_t
memoized_frame_id(compat_frame *frame)
{
    uncached_memo_entry *entry = uncached_memo_of(frame);
    return entry != NULL ? entry->id : 0;
}

/* Frame id of a frame through its code's cache (nframe > 1 mode); *cached
   tells whether the code carries a cache (only then may the id be
   memoized: see frames_memo).  Out of line: the walk's memo usually
   answers. */
static __attribute__((noinline)) uint32_t
frame_id_via_cache(compat_frame *frame, int *cached)
{
    PyCodeObject *code = compat_frame_code(frame);
    code_cache *cache = get_cache(code);
    if (cache == NULL) {
        *cached = 0;
        return uncached_frame_id(frame);
    }
    *cached = 1;
    uint32_t slot = cache_slot(cache, frame);
    uint32_t id = cache->ids[slot];
    if (id == 0) {
        id = intern_cached_frame(cache, (int)slot - 1);
        cache->ids[slot] = id;
    }
    return id;
}

/* The nframe == 1 fast path: one load from the code's cache. */
static uint32_t
single_frame_site(compat_frame *frame)
{
    PyCodeObject *code = compat_frame_code(frame);
    code_cache *cache = get_cache(code);
    if (cache == NULL) {
        return intern_single_frame_site(uncached_frame_id(frame));
    }
    uint32_t slot = cache_slot(cache, frame);
    uint32_t id = cache->ids[slot];
    if (id == 0) {
        id = intern_single_frame_site(
            intern_cached_frame(cache, (int)slot - 1));
        cache->ids[slot] = id;
    }
    if (id != 0) {
        const void *instr = compat_frame_instr(frame);
        frames_memo_entry *entry = frames_memo_of_instr(instr);
        entry->instr = instr;
        entry->id = id;
    }
    return id;
}

static inline size_t
recent_slot(uint64_t hash)
{
    return (size_t)((hash * UINT64_C(0x9E3779B97F4A7C15)) >>
                    (64 - RECENT_BITS));
}

/* Whether a site (of this GIL path: published before we got its id) holds
   exactly this traceback of domain 0. */
static int
site_holds(uint32_t site_id, const uint32_t *ids, uint32_t nframe)
{
    const tm_site *site = site_get(site_id);
    return site->nframe == nframe && site->domain == 0 &&
           memcmp(site->frames, ids, nframe * sizeof(uint32_t)) == 0;
}

/* Hash of a traceback for recent_sites: two ids a step (a traceback
   that differs from the previous one costs its hash, and deep ones are the
   common case with nframe > 1). */
static uint64_t
traceback_hash(const uint32_t *ids, uint32_t nframe)
{
    uint64_t hash = UINT64_C(0xCBF29CE484222325) ^ nframe;
    uint32_t i = 0;
    for (; i + 1 < nframe; i += 2) {
        uint64_t pair;
        memcpy(&pair, &ids[i], sizeof(pair));
        hash = (hash ^ pair) * UINT64_C(0x100000001B3);
    }
    if (i < nframe) {
        hash = (hash ^ ids[i]) * UINT64_C(0x100000001B3);
    }
    return hash;
}

/* A frame the memo did not know: its id through the cache, and its memo
   entry.  Out of line, so that the memo's hit path keeps nothing for it. */
static __attribute__((noinline)) uint32_t
memo_miss(compat_frame *frame, frames_memo_entry *entry)
{
    int cached;
    uint32_t id = frame_id_via_cache(frame, &cached);
    entry->instr = cached && id != 0 ? compat_frame_instr(frame)
                                     : (const void *)&memo_empty;
    entry->id = id;
    return id;
}

/* The traceback of a GIL path (caches used), nframe > 1. */
static uint32_t
capture_with_caches(compat_frame *frame, uint32_t limit)
{
    uint32_t *buffer = gil_frame_buffers[gil_buffer_in_use];
    const uint32_t *previous = gil_frame_buffers[!gil_buffer_in_use];
    uint32_t nframe = 0;
    uint32_t differs = 0;
    /* Every frame, complete or not, meets the memo first (see frames_memo):
       the completeness test is for the frames it does not know. */
    for (; frame != NULL && nframe < limit; frame = frame->previous) {
        frames_memo_entry *entry = memo_entry_of(frame);
        uint32_t id;
        if (__builtin_expect(entry->instr == compat_frame_instr(frame), 1)) {
            id = entry->id;
        }
        else {
            if (!compat_frame_is_complete(frame)) {
                continue;
            }
            id = memo_miss(frame, entry);
            if (id == 0) {
                return 0;
            }
        }
        /* Past the previous traceback's length, `previous` holds older
           ids: the length test below decides then. */
        differs |= id ^ previous[nframe];
        buffer[nframe++] = id;
    }
    if (!differs && nframe == previous_nframe) {
        return previous_site;
    }
    uint64_t hash = traceback_hash(buffer, nframe);
    recent_entry *recent = &recent_sites[recent_slot(hash)];
    uint32_t site;
    if (recent->site != 0 && recent->hash == hash &&
        site_holds(recent->site, buffer, nframe)) {
        site = recent->site;
    }
    else {
        sites_lock();
        site = sites_intern_traceback(buffer, nframe);
        sites_unlock();
        if (site == 0) {
            return 0;
        }
        recent->hash = hash;
        recent->site = site;
    }
    previous_nframe = nframe;
    previous_site = site;
    gil_buffer_in_use = !gil_buffer_in_use;
    return site;
}

uint32_t
frames_capture_site(PyThreadState *tstate, int use_caches)
{
    compat_frame *frame = tstate != NULL ? compat_current_frame(tstate) : NULL;
    if (frame == NULL) {
        return get_unknown_site();
    }
    int limit = frames_nframe;
    if (use_caches) {
        return limit == 1 ? single_frame_site(frame)
                          : capture_with_caches(frame, (uint32_t)limit);
    }
    if (limit == 1) {
        uncached_memo_entry *entry = uncached_memo_of(frame);
        if (entry == NULL) {
            return 0;
        }
        if (entry->single_site == 0) {
            entry->single_site = intern_single_frame_site(entry->id);
        }
        return entry->single_site;
    }
    uint32_t *buffer = raw_frame_buffer;
    uint32_t nframe = 0;
    for (; frame != NULL && nframe < (uint32_t)limit;
         frame = compat_previous_frame(frame)) {
        uint32_t id = memoized_frame_id(frame);
        if (id == 0) {
            return 0;
        }
        buffer[nframe++] = id;
    }
    sites_lock();
    uint32_t site = sites_intern_traceback(buffer, nframe);
    sites_unlock();
    return site;
}
