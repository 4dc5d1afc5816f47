#include "traces.h"

#include "sites.h"

#define SIZE_IN_SIDE_MAP UINT32_MAX

/* The two tables register here so that the current total and the peak
   can be computed from either side.  Written once at init. */
static trace_table *tables[2];
static atomic_size_t peak_size;

int
traces_init(trace_table *table, int is_raw)
{
    table->is_raw = is_raw;
    atomic_init(&table->total_size, 0);
    tables[is_raw ? 1 : 0] = table;
    if (u64map_init(&table->blocks, 1024) < 0) {
        return -1;
    }
    return u64map_init(&table->big_sizes, 16);
}

static void
add_to_total(trace_table *table, size_t size)
{
    /* One writer per table (its lock), so a relaxed load and store do. */
    size_t mine = atomic_load_explicit(&table->total_size,
                                       memory_order_relaxed) + size;
    atomic_store_explicit(&table->total_size, mine, memory_order_relaxed);
    trace_table *other = tables[table->is_raw ? 0 : 1];
    size_t current = mine;
    if (other != NULL) {
        current += atomic_load_explicit(&other->total_size,
                                        memory_order_relaxed);
    }
    size_t peak = atomic_load_explicit(&peak_size, memory_order_relaxed);
    while (current > peak
           && !atomic_compare_exchange_weak_explicit(
               &peak_size, &peak, current, memory_order_relaxed,
               memory_order_relaxed)) {
    }
}

static void
subtract_from_total(trace_table *table, size_t size)
{
    size_t mine = atomic_load_explicit(&table->total_size,
                                       memory_order_relaxed) - size;
    atomic_store_explicit(&table->total_size, mine, memory_order_relaxed);
}

static void
count_in_site(trace_table *table, uint32_t site_id, size_t size, int sign)
{
    tm_site *site = site_get(site_id);
    if (table->is_raw) {
        site->raw_size += sign > 0 ? size : -size;
        site->raw_count += sign;
    }
    else {
        site->gil_size += sign > 0 ? size : -size;
        site->gil_count += sign;
    }
}

static size_t unpack_size(trace_table *table, uintptr_t address,
                          uint64_t packed, int remove);

int
traces_add(trace_table *table, uintptr_t address, size_t size,
           uint32_t site_id)
{
    uint64_t packed_size = size;
    if (size >= SIZE_IN_SIDE_MAP) {
        packed_size = SIZE_IN_SIDE_MAP;
    }
    int existed;
    u64map_slot *slot = u64map_claim(&table->blocks, address, &existed);
    if (slot == NULL) {
        return -1;
    }
    if (existed) {
        /* The address is live again, so its old block was freed where we
           could not see it (a free list, or a free nested in the tracer):
           take the old block out of its site before reusing the slot. */
        uint64_t old = slot->value;
        size_t old_size = unpack_size(table, address, old, 1);
        count_in_site(table, (uint32_t)old, old_size, -1);
        subtract_from_total(table, old_size);
    }
    if (packed_size == SIZE_IN_SIDE_MAP
        && u64map_put(&table->big_sizes, address, size) < 0) {
        u64map_pop(&table->blocks, address, NULL);
        return -1;
    }
    slot->value = (packed_size << 32) | site_id;
    count_in_site(table, site_id, size, +1);
    add_to_total(table, size);
    return 0;
}

static size_t
unpack_size(trace_table *table, uintptr_t address, uint64_t packed,
            int remove)
{
    size_t size = (size_t)(packed >> 32);
    if (size == SIZE_IN_SIDE_MAP) {
        uint64_t big = 0;
        if (remove) {
            u64map_pop(&table->big_sizes, address, &big);
        }
        else {
            u64map_slot *slot = u64map_find(&table->big_sizes, address);
            big = slot ? slot->value : 0;
        }
        size = (size_t)big;
    }
    return size;
}

int
traces_remove(trace_table *table, uintptr_t address, size_t *size,
              uint32_t *site_id)
{
    uint64_t packed;
    if (!u64map_pop(&table->blocks, address, &packed)) {
        return 0;
    }
    size_t block_size = unpack_size(table, address, packed, 1);
    uint32_t block_site = (uint32_t)packed;
    count_in_site(table, block_site, block_size, -1);
    subtract_from_total(table, block_size);
    if (size != NULL) {
        *size = block_size;
    }
    if (site_id != NULL) {
        *site_id = block_site;
    }
    return 1;
}

int
traces_lookup(trace_table *table, uintptr_t address, size_t *size,
              uint32_t *site_id)
{
    u64map_slot *slot = u64map_find(&table->blocks, address);
    if (slot == NULL) {
        return 0;
    }
    *size = unpack_size(table, address, slot->value, 0);
    *site_id = (uint32_t)slot->value;
    return 1;
}

void
traces_reset(trace_table *table)
{
    u64map_reset(&table->blocks, 1024);
    u64map_reset(&table->big_sizes, 16);
    atomic_store_explicit(&table->total_size, 0, memory_order_relaxed);
}

size_t
traces_count(const trace_table *table)
{
    return table->blocks.count;
}

size_t
traces_current(void)
{
    size_t total = 0;
    for (int i = 0; i < 2; i++) {
        if (tables[i] != NULL) {
            total += atomic_load_explicit(&tables[i]->total_size,
                                          memory_order_relaxed);
        }
    }
    return total;
}

size_t
traces_peak(void)
{
    size_t peak = atomic_load_explicit(&peak_size, memory_order_relaxed);
    size_t current = traces_current();
    return peak > current ? peak : current;
}

void
traces_reset_peak(void)
{
    atomic_store_explicit(&peak_size, traces_current(), memory_order_relaxed);
}
