#include "snapfile.h"
#include "rawmem.h"

int
snapfile_version(const readout *r, int sampled)
{
    return r->n_sites != 0 ? 4 : sampled ? 3 : 1;
}

/* One UTF-8 sequence at text[*at]: its code point, or U+FFFD for a byte
   that starts none (the engine stores valid UTF-8; this is a guard). */
static uint32_t
next_code_point(const uint8_t *text, size_t length, size_t *at)
{
    uint8_t lead = text[*at];
    size_t n = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3
                             : (lead >> 3) == 30  ? 4
                                                  : 0;
    if (n == 0 || *at + n > length) {
        (*at)++;
        return 0xFFFD;
    }
    uint32_t code = n == 1 ? lead : lead & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((text[*at + i] & 0xC0) != 0x80) {
            (*at)++;
            return 0xFFFD;
        }
        code = (code << 6) | (text[*at + i] & 0x3F);
    }
    *at += n;
    return code;
}

static void
put_u_escape(bytebuf *out, uint32_t unit)
{
    static const char hex[] = "0123456789abcdef";
    char text[6] = {'\\', 'u', hex[(unit >> 12) & 15], hex[(unit >> 8) & 15],
                    hex[(unit >> 4) & 15], hex[unit & 15]};
    bytebuf_put(out, text, sizeof(text));
}

/* A JSON string as json.dumps writes it (ensure_ascii): printable ASCII
   as is, the short escapes, every other character as \uXXXX in lower
   case, those above U+FFFF as a surrogate pair. */
static void
put_json_string(bytebuf *out, const char *utf8, size_t length)
{
    const uint8_t *text = (const uint8_t *)utf8;
    bytebuf_put_byte(out, '"');
    for (size_t at = 0; at < length;) {
        uint8_t byte = text[at];
        if (byte >= 0x20 && byte < 0x7F && byte != '"' && byte != '\\') {
            size_t end = at + 1;
            while (end < length && text[end] >= 0x20 && text[end] < 0x7F &&
                   text[end] != '"' && text[end] != '\\') {
                end++;
            }
            bytebuf_put(out, text + at, end - at);
            at = end;
            continue;
        }
        uint32_t code = next_code_point(text, length, &at);
        const char *escape = code == '"'    ? "\\\""
                             : code == '\\' ? "\\\\"
                             : code == '\n' ? "\\n"
                             : code == '\r' ? "\\r"
                             : code == '\t' ? "\\t"
                             : code == '\b' ? "\\b"
                             : code == '\f' ? "\\f"
                                            : NULL;
        if (escape != NULL) {
            bytebuf_put_str(out, escape);
        }
        else if (code > 0xFFFF) {
            code -= 0x10000;
            put_u_escape(out, 0xD800 | (code >> 10));
            put_u_escape(out, 0xDC00 | (code & 0x3FF));
        }
        else {
            put_u_escape(out, code);
        }
    }
    bytebuf_put_byte(out, '"');
}

/* A JSON list of names, by name id ("" for id 0). */
static void
put_names(bytebuf *out, const readout *r, const uint32_t *ids, uint32_t n)
{
    bytebuf_put_byte(out, '[');
    for (uint32_t i = 0; i < n; i++) {
        size_t length = 0;
        const char *text =
            ids[i] != 0 ? readout_filename(r, ids[i], &length) : "";
        if (i) {
            bytebuf_put_byte(out, ',');
        }
        put_json_string(out, text, length);
    }
    bytebuf_put_byte(out, ']');
}

/* Table indexes in order of first use, as the reference encoder numbers
   them while it walks the sites: filenames, functions (by name id; "" for
   a frame with no name) and frames (by frame id). */
typedef struct {
    uint32_t *file_index;     /* name id -> index + 1 */
    uint32_t *function_index; /* name id -> index + 1 */
    uint32_t *frame_index;    /* frame id -> index + 1 */
    uint32_t *files, *functions, *frames; /* index -> id, in order */
    uint32_t n_files, n_functions, n_frames;
} tables;

static uint32_t
first_use(uint32_t *index, uint32_t *order, uint32_t *n, uint32_t id)
{
    if (index[id] == 0) {
        order[*n] = id;
        index[id] = ++*n;
    }
    return index[id] - 1;
}

int
snapfile_encode_tables(const readout *r, int version, bytebuf *out)
{
    size_t n_names = (size_t)r->n_filenames + 1;
    size_t n_frames = (size_t)r->n_frames + 1;
    tables t = {
        .file_index = rawmem_calloc(n_names, sizeof(uint32_t)),
        .function_index = rawmem_calloc(n_names, sizeof(uint32_t)),
        .frame_index = rawmem_calloc(n_frames, sizeof(uint32_t)),
        .files = rawmem_malloc(n_names * sizeof(uint32_t)),
        .functions = rawmem_malloc(n_names * sizeof(uint32_t)),
        .frames = rawmem_malloc(n_frames * sizeof(uint32_t)),
    };
    bytebuf sites = {0};
    int status = -1;
    if (t.file_index == NULL || t.function_index == NULL ||
        t.frame_index == NULL || t.files == NULL || t.functions == NULL ||
        t.frames == NULL) {
        goto done;
    }
    int named = version >= 4;
    bytebuf_put_str(&sites, "\"sites\":[");
    for (uint32_t i = 0; i < r->n_sites; i++) {
        const readout_site *site = &r->sites[i];
        bytebuf_put_str(&sites, i ? ",[" : "[");
        bytebuf_put_uint(&sites, site->size);
        bytebuf_put_byte(&sites, ',');
        bytebuf_put_uint(&sites, site->count);
        if (version >= 2) {
            bytebuf_put_byte(&sites, ',');
            bytebuf_put_uint(&sites, site->domain);
        }
        for (uint32_t k = 0; k < site->nframe; k++) {
            uint32_t frame_id = r->frame_ids[site->first_frame + k];
            if (t.frame_index[frame_id] == 0) {
                tm_frame frame = r->frames[frame_id];
                first_use(t.file_index, t.files, &t.n_files,
                          frame.filename_id);
                if (named) {
                    /* Name id 0 is the "" of a frame with no name. */
                    first_use(t.function_index, t.functions, &t.n_functions,
                              frame.function_id);
                }
            }
            bytebuf_put_byte(&sites, ',');
            bytebuf_put_uint(&sites, first_use(t.frame_index, t.frames,
                                               &t.n_frames, frame_id));
        }
        bytebuf_put_byte(&sites, ']');
    }
    bytebuf_put_byte(&sites, ']');

    bytebuf_put_str(out, "\"filenames\":");
    put_names(out, r, t.files, t.n_files);
    bytebuf_put_str(out, ",\"frames\":[");
    for (uint32_t i = 0; i < t.n_frames; i++) {
        tm_frame frame = r->frames[t.frames[i]];
        bytebuf_put_str(out, i ? ",[" : "[");
        bytebuf_put_uint(out, t.file_index[frame.filename_id] - 1);
        bytebuf_put_byte(out, ',');
        bytebuf_put_int(out, frame.lineno);
        if (named) {
            bytebuf_put_byte(out, ',');
            bytebuf_put_uint(out, t.function_index[frame.function_id] - 1);
        }
        bytebuf_put_byte(out, ']');
    }
    bytebuf_put_byte(out, ']');
    if (named) {
        bytebuf_put_str(out, ",\"functions\":");
        put_names(out, r, t.functions, t.n_functions);
    }
    bytebuf_put_byte(out, ',');
    bytebuf_put(out, sites.data, sites.length);
    status = out->failed || sites.failed ? -1 : 0;

done:
    bytebuf_free(&sites);
    rawmem_free(t.file_index, n_names * sizeof(uint32_t));
    rawmem_free(t.function_index, n_names * sizeof(uint32_t));
    rawmem_free(t.frame_index, n_frames * sizeof(uint32_t));
    rawmem_free(t.files, n_names * sizeof(uint32_t));
    rawmem_free(t.functions, n_names * sizeof(uint32_t));
    rawmem_free(t.frames, n_frames * sizeof(uint32_t));
    return status;
}
