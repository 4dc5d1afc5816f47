#include "bytebuf.h"
#include "rawmem.h"

#include <stdio.h>

int
bytebuf_grow(bytebuf *b, size_t n)
{
    if (b->failed) {
        return -1;
    }
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity - b->length < n) {
        if (capacity > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        capacity *= 2;
    }
    char *data = rawmem_realloc(b->data, b->capacity, capacity);
    if (data == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = data;
    b->capacity = capacity;
    return 0;
}

void
bytebuf_free(bytebuf *b)
{
    rawmem_free(b->data, b->capacity);
    memset(b, 0, sizeof(*b));
}

void
bytebuf_put_int(bytebuf *b, long long value)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%lld", value);
    bytebuf_put(b, text, (size_t)n);
}

void
bytebuf_put_uint(bytebuf *b, unsigned long long value)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%llu", value);
    bytebuf_put(b, text, (size_t)n);
}
