#include "pprof.h"
#include "rawmem.h"

#include <stdio.h>
#include <string.h>

/* ---- the string table: index 0 is "", each text once ---------------- */

typedef struct {
    bytebuf text;     /* the strings, one after the other */
    size_t *offsets;  /* n + 1 entries: string i is text[offsets[i]...] */
    uint32_t n;
    uint32_t capacity;
    uint32_t *slots;  /* open addressing: index + 1, 0 = empty */
    size_t mask;      /* slots - 1, a power of two minus one */
    int failed;
} strings;

static uint64_t
text_hash(const char *text, size_t length)
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < length; i++) {
        hash = (hash ^ (uint8_t)text[i]) * 1099511628211ull;
    }
    return hash;
}

static int
strings_rehash(strings *s, size_t n_slots)
{
    uint32_t *slots = rawmem_calloc(n_slots, sizeof(uint32_t));
    if (slots == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        size_t length = s->offsets[i + 1] - s->offsets[i];
        size_t at = text_hash(s->text.data + s->offsets[i], length) &
                    (n_slots - 1);
        while (slots[at] != 0) {
            at = (at + 1) & (n_slots - 1);
        }
        slots[at] = i + 1;
    }
    if (s->slots != NULL) {
        rawmem_free(s->slots, (s->mask + 1) * sizeof(uint32_t));
    }
    s->slots = slots;
    s->mask = n_slots - 1;
    return 0;
}

/* The index of a text, added when new; 0 ("") once memory is missing. */
static uint32_t
strings_index(strings *s, const char *text, size_t length)
{
    if (s->failed) {
        return 0;
    }
    size_t at = text_hash(text, length) & s->mask;
    for (uint32_t slot; (slot = s->slots[at]) != 0;
         at = (at + 1) & s->mask) {
        size_t start = s->offsets[slot - 1];
        if (s->offsets[slot] - start == length &&
            memcmp(s->text.data + start, text, length) == 0) {
            return slot - 1;
        }
    }
    if (s->n + 1 >= s->capacity) {
        size_t *offsets =
            rawmem_realloc(s->offsets, (size_t)s->capacity * sizeof(size_t),
                           2 * (size_t)s->capacity * sizeof(size_t));
        if (offsets == NULL) {
            s->failed = 1;
            return 0;
        }
        s->offsets = offsets;
        s->capacity *= 2;
    }
    bytebuf_put(&s->text, text, length);
    if (s->text.failed) {
        s->failed = 1;
        return 0;
    }
    uint32_t index = s->n++;
    s->offsets[s->n] = s->text.length;
    s->slots[at] = index + 1;
    /* Kept under half full: a probe is a few comparisons. */
    if (2 * (size_t)s->n > s->mask && strings_rehash(s, 2 * (s->mask + 1))) {
        s->failed = 1;
    }
    return index;
}

static uint32_t
strings_of(strings *s, const char *text)
{
    return strings_index(s, text, strlen(text));
}

static int
strings_init(strings *s)
{
    memset(s, 0, sizeof(*s));
    s->capacity = 1024;
    s->offsets = rawmem_malloc(s->capacity * sizeof(size_t));
    if (s->offsets == NULL || strings_rehash(s, 1024) < 0) {
        return -1;
    }
    s->offsets[0] = 0;
    strings_index(s, "", 0); /* index 0 */
    return s->failed ? -1 : 0;
}

static void
strings_free(strings *s)
{
    bytebuf_free(&s->text);
    if (s->offsets != NULL) {
        rawmem_free(s->offsets, (size_t)s->capacity * sizeof(size_t));
    }
    if (s->slots != NULL) {
        rawmem_free(s->slots, (s->mask + 1) * sizeof(uint32_t));
    }
}

/* ---- protobuf fields ------------------------------------------------- */

enum { VARINT = 0, LENGTH_DELIMITED = 2 };

static void
put_key(bytebuf *out, uint32_t number, int wire_type)
{
    bytebuf_put_varint(out, ((uint64_t)number << 3) | (uint64_t)wire_type);
}

/* An int field, left out when 0 (proto3's default), as the reference
   encoder does. */
static void
put_int_field(bytebuf *out, uint32_t number, uint64_t value)
{
    if (value != 0) {
        put_key(out, number, VARINT);
        bytebuf_put_varint(out, value);
    }
}

/* The key and length of an embedded message whose fields follow. */
static void
put_message_head(bytebuf *out, uint32_t number, size_t length)
{
    put_key(out, number, LENGTH_DELIMITED);
    bytebuf_put_varint(out, length);
}

static size_t
int_field_length(uint32_t number, uint64_t value)
{
    return value != 0 ? varint_length((uint64_t)number << 3) +
                            varint_length(value)
                      : 0;
}

/* A message of two int fields, numbered 1 and 2 (ValueType, Line,
   Label's key and str). */
static void
put_pair(bytebuf *out, uint32_t number, uint64_t first, uint64_t second)
{
    put_message_head(out, number,
                     int_field_length(1, first) + int_field_length(2, second));
    put_int_field(out, 1, first);
    put_int_field(out, 2, second);
}

/* ---- the profile ----------------------------------------------------- */

typedef struct {
    const readout *r;
    const pprof_options *options;
    bytebuf *out;
    strings strings;
    uint32_t *location_of_frame;  /* frame id -> location id, 0: none */
    uint32_t n_locations;
    uint32_t *location_frames;    /* location id - 1 -> frame id */
    uint32_t *location_functions; /* location id - 1 -> function id */
    /* Functions by (label, filename): a table of string index pairs,
       searched through an open-addressing index. */
    uint64_t *function_keys; /* function id - 1 -> label << 32 | filename */
    uint32_t n_functions;
    uint32_t *function_slots; /* function id, 0 = empty */
    size_t function_mask;
    uint32_t domain_key;
    int failed;
} encoder;

static uint64_t
mix64(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key;
}

static int
functions_grow(encoder *e)
{
    size_t n_slots = 2 * (e->function_mask + 1);
    uint32_t *slots = rawmem_calloc(n_slots, sizeof(uint32_t));
    if (slots == NULL) {
        return -1;
    }
    for (uint32_t id = 1; id <= e->n_functions; id++) {
        size_t at = mix64(e->function_keys[id - 1]) & (n_slots - 1);
        while (slots[at] != 0) {
            at = (at + 1) & (n_slots - 1);
        }
        slots[at] = id;
    }
    rawmem_free(e->function_slots, (e->function_mask + 1) * sizeof(uint32_t));
    e->function_slots = slots;
    e->function_mask = n_slots - 1;
    return 0;
}

/* The function id of (label, filename), numbered in order of first use. */
static uint32_t
function_id(encoder *e, uint32_t label, uint32_t filename)
{
    if (e->failed) {
        return 0; /* the table may be full: no probe */
    }
    uint64_t key = ((uint64_t)label << 32) | filename;
    size_t at = mix64(key) & e->function_mask;
    for (uint32_t id; (id = e->function_slots[at]) != 0;
         at = (at + 1) & e->function_mask) {
        if (e->function_keys[id - 1] == key) {
            return id;
        }
    }
    /* n_functions never exceeds the frames: function_keys has room. */
    uint32_t id = ++e->n_functions;
    e->function_keys[id - 1] = key;
    e->function_slots[at] = id;
    if (2 * (size_t)e->n_functions > e->function_mask &&
        functions_grow(e) < 0) {
        e->failed = 1;
    }
    return id;
}

/* The location of a frame: one per frame id (a frame is a filename, a
   line and a function name), numbered in order of first use. */
static uint32_t
location_id(encoder *e, uint32_t frame_id)
{
    uint32_t id = e->location_of_frame[frame_id];
    if (id != 0) {
        return id;
    }
    const readout *r = e->r;
    tm_frame frame = r->frames[frame_id];
    size_t filename_length;
    const char *filename =
        readout_filename(r, frame.filename_id, &filename_length);
    uint32_t label;
    if (frame.function_id != 0) {
        size_t length;
        const char *name = readout_filename(r, frame.function_id, &length);
        label = strings_index(&e->strings, name, length);
    }
    else {
        /* No name: "file.py:LINE" after the file's base name. */
        const char *base = filename;
        for (size_t i = 0; i < filename_length; i++) {
            if (filename[i] == '/') {
                base = filename + i + 1;
            }
        }
        size_t base_length = filename_length - (size_t)(base - filename);
        if (base_length == 0) {
            base = filename;
            base_length = filename_length;
        }
        char text[4096 + 16];
        if (base_length > 4096) {
            base_length = 4096;
        }
        memcpy(text, base, base_length);
        int n = snprintf(text + base_length, 16, ":%d", (int)frame.lineno);
        label = strings_index(&e->strings, text, base_length + (size_t)n);
    }
    uint32_t file = strings_index(&e->strings, filename, filename_length);
    uint32_t function = function_id(e, label, file);
    id = ++e->n_locations;
    e->location_of_frame[frame_id] = id;
    e->location_frames[id - 1] = frame_id;
    e->location_functions[id - 1] = function;
    return id;
}

static const pprof_domain_name *
domain_name_of(const pprof_options *options, uint32_t domain)
{
    for (size_t i = 0; i < options->n_domain_names; i++) {
        if (options->domain_names[i].domain == domain) {
            return &options->domain_names[i];
        }
    }
    return NULL;
}

static void
put_sample(encoder *e, const readout_site *site)
{
    bytebuf *out = e->out;
    const uint32_t *frames = &e->r->frame_ids[site->first_frame];
    /* The locations first (they number themselves in order of first
       use), then the sample's length, then its bytes. */
    size_t ids_length = 0;
    for (uint32_t k = 0; k < site->nframe; k++) {
        ids_length += varint_length(location_id(e, frames[k]));
    }
    size_t values_length =
        varint_length(site->count) + varint_length(site->size);
    size_t length = 1 + varint_length(ids_length) + ids_length + 1 +
                    varint_length(values_length) + values_length;
    uint32_t label_string = 0;
    if (site->domain != 0) {
        if (e->domain_key == 0) {
            e->domain_key = strings_of(&e->strings, "domain");
        }
        const pprof_domain_name *name =
            domain_name_of(e->options, site->domain);
        if (name != NULL) {
            label_string =
                strings_index(&e->strings, name->name, name->length);
        }
        else {
            char fallback[32];
            snprintf(fallback, sizeof(fallback), "domain %u",
                     (unsigned)site->domain);
            label_string = strings_of(&e->strings, fallback);
        }
        size_t label_length = int_field_length(1, e->domain_key) +
                              int_field_length(2, label_string);
        length += 1 + varint_length(label_length) + label_length;
    }
    put_message_head(out, 2, length);
    put_message_head(out, 1, ids_length);
    for (uint32_t k = 0; k < site->nframe; k++) {
        bytebuf_put_varint(out, e->location_of_frame[frames[k]]);
    }
    put_message_head(out, 2, values_length);
    bytebuf_put_varint(out, site->count);
    bytebuf_put_varint(out, site->size);
    if (site->domain != 0) {
        put_pair(out, 3, e->domain_key, label_string);
    }
}

/* The order of the reference encoder: biggest size first, then by frames
   (filename, then line; a shorter traceback that is a prefix first), ties
   in the readout's order (a stable sort). */
static int
compare_frames(const readout *r, uint32_t a, uint32_t b)
{
    tm_frame x = r->frames[a], y = r->frames[b];
    if (x.filename_id != y.filename_id) {
        size_t nx, ny;
        const char *fx = readout_filename(r, x.filename_id, &nx);
        const char *fy = readout_filename(r, y.filename_id, &ny);
        int c = memcmp(fx, fy, nx < ny ? nx : ny);
        if (c != 0) {
            return c;
        }
        if (nx != ny) {
            return nx < ny ? -1 : 1;
        }
    }
    return (x.lineno > y.lineno) - (x.lineno < y.lineno);
}

static int
site_before(const readout *r, uint32_t ia, uint32_t ib)
{
    const readout_site *a = &r->sites[ia], *b = &r->sites[ib];
    if (a->size != b->size) {
        return a->size > b->size;
    }
    uint32_t n = a->nframe < b->nframe ? a->nframe : b->nframe;
    for (uint32_t k = 0; k < n; k++) {
        int c = compare_frames(r, r->frame_ids[a->first_frame + k],
                               r->frame_ids[b->first_frame + k]);
        if (c != 0) {
            return c < 0;
        }
    }
    return a->nframe < b->nframe;
}

/* A merge sort rather than qsort, which takes no context in C11 (a static
   would be shared by the interpreters that each have their own GIL). */
static void
sort_sites(const readout *r, uint32_t *order, uint32_t *scratch, uint32_t n)
{
    if (n < 2) {
        return;
    }
    uint32_t half = n / 2;
    sort_sites(r, order, scratch, half);
    sort_sites(r, order + half, scratch, n - half);
    uint32_t i = 0, j = half, k = 0;
    while (i < half && j < n) {
        /* Equal keys take the left one first: stable. */
        scratch[k++] =
            site_before(r, order[j], order[i]) ? order[j++] : order[i++];
    }
    while (i < half) {
        scratch[k++] = order[i++];
    }
    while (j < n) {
        scratch[k++] = order[j++];
    }
    memcpy(order, scratch, n * sizeof(uint32_t));
}

static void
put_tables(encoder *e)
{
    bytebuf *out = e->out;
    /* One mapping, the interpreter, that says its locations are
       symbolized already (has_functions, has_filenames, has_line_numbers):
       pprof then looks for no binary to read. */
    uint32_t python = strings_of(&e->strings, "python");
    put_message_head(out, 3,
                     int_field_length(1, 1) + int_field_length(5, python) +
                         3 * int_field_length(7, 1));
    put_int_field(out, 1, 1);
    put_int_field(out, 5, python);
    put_int_field(out, 7, 1);
    put_int_field(out, 8, 1);
    put_int_field(out, 9, 1);
    for (uint32_t id = 1; id <= e->n_locations; id++) {
        tm_frame frame = e->r->frames[e->location_frames[id - 1]];
        uint64_t lineno = (uint64_t)(int64_t)frame.lineno;
        uint32_t function = e->location_functions[id - 1];
        size_t line_length =
            int_field_length(1, function) + int_field_length(2, lineno);
        put_message_head(out, 4,
                         int_field_length(1, id) + int_field_length(2, 1) +
                             1 + varint_length(line_length) + line_length);
        put_int_field(out, 1, id);
        put_int_field(out, 2, 1); /* the mapping */
        put_pair(out, 4, function, lineno);
    }
    for (uint32_t id = 1; id <= e->n_functions; id++) {
        uint64_t key = e->function_keys[id - 1];
        uint32_t label = (uint32_t)(key >> 32), file = (uint32_t)key;
        /* No system_name: pprof demangles a name equal to its system
           name, and its demangler empties "<module>", "<lambda>"... */
        put_message_head(out, 5,
                         int_field_length(1, id) +
                             int_field_length(2, label) +
                             int_field_length(4, file));
        put_int_field(out, 1, id);
        put_int_field(out, 2, label);
        put_int_field(out, 4, file);
    }
}

int
pprof_encode(const readout *r, const pprof_options *options, bytebuf *out)
{
    encoder e = {.r = r, .options = options, .out = out};
    uint32_t *order = NULL;
    int status = -1;
    size_t n_frames = r->n_frames ? r->n_frames : 1;
    size_t n_order = 2 * (size_t)(r->n_sites ? r->n_sites : 1);
    e.location_of_frame = rawmem_calloc(n_frames, sizeof(uint32_t));
    e.location_frames = rawmem_malloc(n_frames * sizeof(uint32_t));
    e.location_functions = rawmem_malloc(n_frames * sizeof(uint32_t));
    e.function_keys = rawmem_malloc(n_frames * sizeof(uint64_t));
    e.function_slots = rawmem_calloc(64, sizeof(uint32_t));
    e.function_mask = 63;
    order = rawmem_malloc(n_order * sizeof(uint32_t));
    if (strings_init(&e.strings) < 0 || e.location_of_frame == NULL || e.location_frames == NULL ||
        e.location_functions == NULL || e.function_keys == NULL ||
        e.function_slots == NULL || order == NULL) {
        goto done;
    }
    static const char *const sample_types[2][2] = {
        {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
    for (int i = 0; i < 2; i++) {
        uint32_t type = strings_of(&e.strings, sample_types[i][0]);
        put_pair(out, 1, type, strings_of(&e.strings, sample_types[i][1]));
    }
    for (uint32_t i = 0; i < r->n_sites; i++) {
        order[i] = i;
    }
    sort_sites(r, order, order + r->n_sites, r->n_sites);
    for (uint32_t i = 0; i < r->n_sites && !e.failed; i++) {
        put_sample(&e, &r->sites[order[i]]);
    }
    put_tables(&e);
    uint32_t space = strings_of(&e.strings, "space");
    uint32_t bytes = strings_of(&e.strings, "bytes");
    uint32_t default_type = strings_of(&e.strings, "inuse_space");
    for (uint32_t i = 0; i < e.strings.n; i++) {
        size_t start = e.strings.offsets[i];
        size_t length = e.strings.offsets[i + 1] - start;
        put_message_head(out, 6, length);
        bytebuf_put(out, e.strings.text.data + start, length);
    }
    put_int_field(out, 9, (uint64_t)options->time_nanos);
    put_pair(out, 11, space, bytes);
    put_int_field(out, 12, (uint64_t)options->period);
    put_int_field(out, 14, default_type);
    status = e.failed || e.strings.failed || out->failed ? -1 : 0;

done:
    strings_free(&e.strings);
    rawmem_free(e.location_of_frame, n_frames * sizeof(uint32_t));
    rawmem_free(e.location_frames, n_frames * sizeof(uint32_t));
    rawmem_free(e.location_functions, n_frames * sizeof(uint32_t));
    rawmem_free(e.function_keys, n_frames * sizeof(uint64_t));
    rawmem_free(e.function_slots, (e.function_mask + 1) * sizeof(uint32_t));
    rawmem_free(order, n_order * sizeof(uint32_t));
    return status;
}
