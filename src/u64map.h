/* u64map: an open-addressing hash map from uint64_t to uint64_t.
 *
 * Contract
 * - Key 0 is reserved (it marks an empty slot); callers never store it.
 * - Value 0 marks a dead entry: u64map_kill() keeps the key in its slot
 *   with value 0, so that a key that comes back (an address that the
 *   allocator hands out again, the common case) finds its slot in one
 *   probe, and removal costs one store.  Dead entries are dropped when the
 *   table is rebuilt.  Callers never store value 0 as a live value.
 * - Linear probing, 16 bytes a slot.  The load factor (live and dead) is
 *   kept under 3/4 while memory allows it and may reach 15/16 when growing
 *   fails, so an out-of-memory tracer keeps recording for a while.
 * - Memory comes from rawmem (never the hooked Python allocators).
 * - Not thread-safe: the owner of a map says which lock guards it.
 * - Functions that can fail return 0 on success and -1 when memory is
 *   missing; on failure the map is unchanged.
 */
#ifndef PYTRACEMALLOC_U64MAP_H
#define PYTRACEMALLOC_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t key;
    uint64_t value;
} u64map_slot;

typedef struct {
    u64map_slot *slots;
    size_t mask;    /* capacity - 1; capacity is a power of two */
    unsigned shift; /* 64 - log2(capacity): hash = key * K >> shift */
    unsigned region_shift; /* log2 of the bytes of a region (u64map_home) */
    uint64_t region_mask;  /* slots of a region - 1 */
    size_t used;    /* slots holding a key, live or dead */
    size_t dead;    /* slots holding a dead entry */
} u64map;

int u64map_init(u64map *map, size_t capacity);
void u64map_fini(u64map *map);
/* Empty the map and give it `capacity` slots (0 on success, -1 if the new
   table cannot be allocated: the map is then emptied in place). */
int u64map_reset(u64map *map, size_t capacity);
/* Insert key, or replace its value. */
int u64map_put(u64map *map, uint64_t key, uint64_t value);
/* The slot of key, live or dead, or a new one with value 0 (*was_live
   tells a live entry from a dead or new one), in a single probe.  NULL when
   the key is absent and the map cannot grow. */
u64map_slot *u64map_claim(u64map *map, uint64_t key, int *was_live);
/* Remove key for good (backward shift); return 1 and store its value in
 *value when it was live, else return 0. */
int u64map_pop(u64map *map, uint64_t key, uint64_t *value);
size_t u64map_memory(const u64map *map);

static inline size_t
u64map_live(const u64map *map)
{
    return map->used - map->dead;
}

static inline size_t
u64map_home(const u64map *map, uint64_t key)
{
    /* Region-local hashing: the region of the key is scattered over the
       table (Fibonacci hashing of the region number), its offset in the
       region is kept, so that keys of one region, which pymalloc hands out
       one after the other, land in a run of slots of the table (cache
       lines that the next allocations and frees reuse, or that the
       hardware prefetches).  The runs are kept short (u64map.c:
       allocate_slots) because linear probing collides whole runs. */
    uint64_t region =
        (key >> map->region_shift) * UINT64_C(0x9E3779B97F4A7C15);
    uint64_t offset = (key >> 4) & map->region_mask;
    return (size_t)(((region >> map->shift) ^ offset) & map->mask);
}

/* Start loading the cache line of key's home slot: a caller with other
   work to do before its lookup hides some of a big table's cache miss. */
static inline void
u64map_prefetch(const u64map *map, uint64_t key)
{
    __builtin_prefetch(&map->slots[u64map_home(map, key)], 1, 3);
}

/* Return the slot holding key (live or dead), or NULL. */
static inline u64map_slot *
u64map_find(const u64map *map, uint64_t key)
{
    size_t i = u64map_home(map, key);
    for (;;) {
        u64map_slot *slot = &map->slots[i];
        if (slot->key == key) {
            return slot;
        }
        if (slot->key == 0) {
            return NULL;
        }
        i = (i + 1) & map->mask;
    }
}

/* Whether one more key fits without growing the table (load under 3/4). */
static inline int
u64map_has_room(const u64map *map)
{
    return (map->used + 1) * 4 <= (map->mask + 1) * 3;
}

/* u64map_claim once the map has room: one probe to the key's slot, live or
   dead, or to the first empty one, which takes the key.  Inline: it is on
   the path of every traced allocation. */
static inline u64map_slot *
u64map_claim_with_room(u64map *map, uint64_t key, int *was_live)
{
    size_t i = u64map_home(map, key);
    for (;;) {
        u64map_slot *slot = &map->slots[i];
        if (slot->key == key) {
            *was_live = slot->value != 0;
            if (!*was_live) {
                map->dead--;
            }
            return slot;
        }
        if (slot->key == 0) {
            slot->key = key;
            slot->value = 0;
            map->used++;
            *was_live = 0;
            return slot;
        }
        i = (i + 1) & map->mask;
    }
}

/* Turn a live entry into a dead one. */
static inline void
u64map_kill(u64map *map, u64map_slot *slot)
{
    slot->value = 0;
    map->dead++;
}

#endif
