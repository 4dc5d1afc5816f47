#include "u64map.h"

#include "rawmem.h"

static unsigned
log2_of_power_of_two(size_t value)
{
    unsigned bits = 0;
    while (((size_t)1 << bits) < value) {
        bits++;
    }
    return bits;
}

static size_t
round_up_capacity(size_t capacity)
{
    size_t rounded = 16;
    while (rounded < capacity) {
        rounded <<= 1;
    }
    return rounded;
}

static int
allocate_slots(u64map *map, size_t capacity)
{
    u64map_slot *slots = rawmem_calloc(capacity, sizeof(u64map_slot));
    if (slots == NULL) {
        return -1;
    }
    map->slots = slots;
    map->mask = capacity - 1;
    map->shift = 64 - log2_of_power_of_two(capacity);
    /* Regions of 256 bytes (runs of 16 slots) in a table that the caches
       hold anyway, of 1 KiB (64 slots) from 256K slots (4 MiB) up, where
       the table's cache misses dominate: 4 KiB regions collided by whole
       runs of 256 slots, and probes walked tens of slots (issue 17:
       paired runs of bench/runner.py, ours/1: json 1.56x with 256 B,
       1.44x with 1 KiB, 1.45x with 4 KiB; docutils 1.20x, 1.20x,
       1.30x). */
    int big = capacity >= ((size_t)1 << 18);
    map->region_shift = big ? 10 : 8;
    map->region_mask = big ? 0x3F : 0xF;
    map->used = 0;
    map->dead = 0;
    return 0;
}

int
u64map_init(u64map *map, size_t capacity)
{
    map->slots = NULL;
    map->mask = 0;
    map->shift = 64;
    map->region_shift = 8;
    map->region_mask = 0;
    map->used = 0;
    map->dead = 0;
    return allocate_slots(map, round_up_capacity(capacity));
}

void
u64map_fini(u64map *map)
{
    if (map->slots != NULL) {
        rawmem_free(map->slots, (map->mask + 1) * sizeof(u64map_slot));
    }
    map->slots = NULL;
    map->mask = 0;
    map->used = 0;
    map->dead = 0;
}

static void
empty_in_place(u64map *map)
{
    for (size_t i = 0; map->slots != NULL && i <= map->mask; i++) {
        map->slots[i].key = 0;
    }
    map->used = 0;
    map->dead = 0;
}

int
u64map_reset(u64map *map, size_t capacity)
{
    capacity = round_up_capacity(capacity);
    if (map->slots != NULL && map->mask + 1 == capacity) {
        empty_in_place(map);
        return 0;
    }
    u64map fresh;
    if (u64map_init(&fresh, capacity) < 0) {
        empty_in_place(map);
        return -1;
    }
    u64map_fini(map);
    *map = fresh;
    return 0;
}

/* Place a key known to be absent; the table has room. */
static void
place(u64map *map, uint64_t key, uint64_t value)
{
    size_t i = u64map_home(map, key);
    while (map->slots[i].key != 0) {
        i = (i + 1) & map->mask;
    }
    map->slots[i].key = key;
    map->slots[i].value = value;
    map->used++;
}

/* Move the live entries into a table of `capacity` slots, dropping the
   dead ones. */
static int
rebuild(u64map *map, size_t capacity)
{
    size_t old_capacity = map->mask + 1;
    u64map_slot *old_slots = map->slots;
    u64map rebuilt;
    if (u64map_init(&rebuilt, capacity) < 0) {
        return -1;
    }
    for (size_t i = 0; i < old_capacity; i++) {
        if (old_slots[i].key != 0 && old_slots[i].value != 0) {
            place(&rebuilt, old_slots[i].key, old_slots[i].value);
        }
    }
    rawmem_free(old_slots, old_capacity * sizeof(u64map_slot));
    *map = rebuilt;
    return 0;
}

/* Make room for one more key: 0, or -1 when the map is full and cannot
   grow.  Mostly dead: rebuild at the same size; else double.  When that
   fails, keep filling up to 15/16: probing gets slower, recording goes
   on. */
static int
reserve_one(u64map *map)
{
    size_t capacity = map->mask + 1;
    if (u64map_has_room(map)) {
        return 0;
    }
    /* Rebuild at the same size when the dead entries are many (an eighth
       of the used slots) and the live ones fit: a table of 3M live blocks
       must not double because of the dead entries of a short churn. */
    size_t live = u64map_live(map);
    int mostly_dead = live * 2 <= capacity;
    int worth_compacting =
        map->dead >= map->used / 8 && (live + 1) * 4 <= capacity * 3;
    size_t target =
        (mostly_dead || worth_compacting) ? capacity : capacity * 2;
    if (rebuild(map, target) == 0 || (map->used + 1) * 16 <= capacity * 15) {
        return 0;
    }
    return -1;
}

u64map_slot *
u64map_claim(u64map *map, uint64_t key, int *was_live)
{
    if (!u64map_has_room(map)) {
        /* Full: a present key needs no room, a new one does. */
        u64map_slot *present = u64map_find(map, key);
        if (present == NULL && reserve_one(map) < 0) {
            return NULL;
        }
    }
    return u64map_claim_with_room(map, key, was_live);
}

int
u64map_put(u64map *map, uint64_t key, uint64_t value)
{
    int was_live;
    u64map_slot *slot = u64map_claim(map, key, &was_live);
    if (slot == NULL) {
        return -1;
    }
    slot->value = value;
    return 0;
}

int
u64map_pop(u64map *map, uint64_t key, uint64_t *value)
{
    u64map_slot *slot = u64map_find(map, key);
    if (slot == NULL) {
        return 0;
    }
    int was_live = slot->value != 0;
    if (value != NULL) {
        *value = slot->value;
    }
    if (!was_live) {
        map->dead--;
    }
    /* Backward-shift deletion: pull later members of the probe run into
       the hole unless that would move them before their home slot. */
    size_t hole = (size_t)(slot - map->slots);
    size_t next = (hole + 1) & map->mask;
    while (map->slots[next].key != 0) {
        size_t home = u64map_home(map, map->slots[next].key);
        size_t distance_to_hole = (hole - home) & map->mask;
        size_t distance_to_next = (next - home) & map->mask;
        if (distance_to_hole < distance_to_next) {
            map->slots[hole] = map->slots[next];
            hole = next;
        }
        next = (next + 1) & map->mask;
    }
    map->slots[hole].key = 0;
    map->used--;
    return was_live;
}

size_t
u64map_memory(const u64map *map)
{
    return map->slots == NULL ? 0 : (map->mask + 1) * sizeof(u64map_slot);
}
