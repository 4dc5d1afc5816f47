/* bytebuf: a growing byte buffer for the encoders of read-outs (pprof,
 * snapshot files), which run with no lock held and outside the hooks.
 *
 * Contract
 * - Memory comes from rawmem (libc): a read-out's buffers are the tracer's
 *   own, never the hooked Python allocators, and rawmem's fault injection
 *   reaches every error path of the encoders (tests/test_live_encoders.py).
 * - A failed growth is sticky: `failed` is set, later writes do nothing,
 *   and the encoder checks it once at the end (so that the many small
 *   writes of an encoder need no error path each).
 * - Not thread-safe: one buffer, one encoder.
 */
#ifndef PYTRACEMALLOC_BYTEBUF_H
#define PYTRACEMALLOC_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    size_t length;
    size_t capacity;
    int failed;
} bytebuf;

/* Room for n more bytes: 0, or -1 (and `failed` set) without memory. */
int bytebuf_grow(bytebuf *b, size_t n);
void bytebuf_free(bytebuf *b);
/* The decimal text of a signed or unsigned integer. */
void bytebuf_put_int(bytebuf *b, long long value);
void bytebuf_put_uint(bytebuf *b, unsigned long long value);

static inline int
bytebuf_reserve(bytebuf *b, size_t n)
{
    return b->capacity - b->length >= n ? 0 : bytebuf_grow(b, n);
}

static inline void
bytebuf_put(bytebuf *b, const void *data, size_t n)
{
    /* n == 0 copies nothing, and an empty buffer has no data yet. */
    if (n != 0 && bytebuf_reserve(b, n) == 0) {
        memcpy(b->data + b->length, data, n);
        b->length += n;
    }
}

static inline void
bytebuf_put_byte(bytebuf *b, uint8_t byte)
{
    if (bytebuf_reserve(b, 1) == 0) {
        b->data[b->length++] = (char)byte;
    }
}

static inline void
bytebuf_put_str(bytebuf *b, const char *text)
{
    bytebuf_put(b, text, strlen(text));
}

/* A protobuf varint: negative int64 values are written as their 64-bit
   two's complement by the caller's cast. */
static inline void
bytebuf_put_varint(bytebuf *b, uint64_t value)
{
    if (bytebuf_reserve(b, 10) != 0) {
        return;
    }
    while (value > 0x7F) {
        b->data[b->length++] = (char)((value & 0x7F) | 0x80);
        value >>= 7;
    }
    b->data[b->length++] = (char)value;
}

static inline size_t
varint_length(uint64_t value)
{
    size_t n = 1;
    while (value > 0x7F) {
        value >>= 7;
        n++;
    }
    return n;
}

#endif
