#include "traces.h"

#include <string.h>

#include "sampling.h"
#include "sites.h"

atomic_size_t traces_totals[TRACES_KINDS];
atomic_size_t traces_peak_seen[2];

int
traces_init(trace_table *table, int kind)
{
    table->kind = kind;
    table->n_dying = 0;
    atomic_store_explicit(&traces_totals[kind], 0, memory_order_relaxed);
    if (u64map_init(&table->blocks, 1024) < 0) {
        return -1;
    }
    return u64map_init(&table->big_sizes, 16);
}

/* The weighted form of traces_count_exact, for sampled mode. */
void
traces_count_block(trace_table *table, uint32_t site_id, size_t size,
                   int sign)
{
    size_t weighted_size, weighted_count;
    double variance;
    sampling_weigh(size, &weighted_size, &weighted_count, &variance);
    tm_site *site = site_get(site_id);
    int gil = table->kind == TRACES_GIL;
    size_t *site_size = gil ? &site->gil_size : &site->raw_size;
    size_t *site_count = gil ? &site->gil_count : &site->raw_count;
    double *site_variance = gil ? &site->gil_variance : &site->raw_variance;
    if (sign > 0) {
        *site_size += weighted_size;
        *site_count += weighted_count;
        *site_variance += variance;
        traces_grow_total(table->kind, weighted_size);
    }
    else {
        *site_size -= weighted_size;
        *site_count -= weighted_count;
        *site_variance -= variance;
        traces_shrink_total(table->kind, weighted_size);
    }
}

/* The size of a live entry; the side map entry of a big block is dropped
   when `forget` is set. */
static size_t
unpack_size(trace_table *table, uintptr_t address, uint64_t packed, int forget)
{
    size_t size = (size_t)(packed >> 32);
    if (size != TRACES_SIZE_IN_SIDE_MAP) {
        return size;
    }
    uint64_t big = 0;
    if (forget) {
        u64map_pop(&table->big_sizes, address, &big);
    }
    else {
        u64map_slot *slot = u64map_find(&table->big_sizes, address);
        big = slot ? slot->value : 0;
    }
    return (size_t)big;
}

int
traces_add_slow(trace_table *table, uintptr_t address, size_t size,
                uint32_t site_id)
{
    int was_live;
    u64map_slot *slot = u64map_claim(&table->blocks, address, &was_live);
    if (slot == NULL) {
        return -1;
    }
    /* A note on an old block at this address must not park the new one
       (in sampled mode, the free of a noted block that the table did not
       hold may have passed the filter unseen). */
    traces_forget_dying(table, address);
    if (was_live) {
        /* The address is live again, so its old block was freed where we
           could not see it (a free nested in the tracer, or a parked block
           freed by a free list we cannot see): take the old block out of
           its site before reusing the slot. */
        uint64_t old = slot->value;
        size_t old_size = unpack_size(table, address, old, 1);
        if ((uint32_t)old != TRACES_PARKED_SITE) {
            traces_count_block(table, (uint32_t)old, old_size, -1);
        }
    }
    uint64_t packed_size = size;
    if (size >= TRACES_SIZE_IN_SIDE_MAP) {
        packed_size = TRACES_SIZE_IN_SIDE_MAP;
        if (u64map_put(&table->big_sizes, address, size) < 0) {
            u64map_kill(&table->blocks, slot);
            return -1;
        }
    }
    slot->value = (packed_size << 32) | site_id;
    traces_count_block(table, site_id, size, +1);
    if (!was_live && sampling_bytes() != 0) {
        sampling_filter_count(address, +1);
    }
    return 0;
}

int
traces_remove_slow(trace_table *table, uintptr_t address, size_t *size,
                   uint32_t *site_id)
{
    u64map_slot *slot = u64map_find(&table->blocks, address);
    if (slot == NULL || slot->value == 0) {
        return 0;
    }
    uint64_t packed = slot->value;
    u64map_kill(&table->blocks, slot);
    if (sampling_bytes() != 0) {
        sampling_filter_count(address, -1);
    }
    size_t block_size = unpack_size(table, address, packed, 1);
    uint32_t block_site = (uint32_t)packed;
    if (block_site == TRACES_PARKED_SITE) {
        return 0;
    }
    traces_count_block(table, block_site, block_size, -1);
    if (size != NULL) {
        *size = block_size;
    }
    if (site_id != NULL) {
        *site_id = block_site;
    }
    return 1;
}

int
traces_park(trace_table *table, uintptr_t address)
{
    traces_forget_dying(table, address);
    u64map_slot *slot = u64map_find(&table->blocks, address);
    if (slot == NULL || slot->value == 0 ||
        (uint32_t)slot->value == TRACES_PARKED_SITE) {
        return 0;
    }
    size_t size = unpack_size(table, address, slot->value, 0);
    if (size == 0) {
        return 0; /* a parked empty block would read as a dead entry */
    }
    traces_count_block(table, (uint32_t)slot->value, size, -1);
    slot->value = (slot->value & ~(uint64_t)UINT32_MAX) | TRACES_PARKED_SITE;
    return 1;
}

int
traces_move(trace_table *table, uintptr_t address, uint32_t site_id)
{
    traces_forget_dying(table, address);
    u64map_slot *slot = u64map_find(&table->blocks, address);
    if (slot == NULL || slot->value == 0) {
        return 0;
    }
    size_t size = unpack_size(table, address, slot->value, 0);
    uint32_t old_site = (uint32_t)slot->value;
    if (old_site == site_id) {
        return 1;
    }
    if (old_site != TRACES_PARKED_SITE) {
        traces_count_block(table, old_site, size, -1);
    }
    slot->value = (slot->value & ~(uint64_t)UINT32_MAX) | site_id;
    traces_count_block(table, site_id, size, +1);
    return 1;
}

int
traces_holds(const trace_table *table, uintptr_t address)
{
    u64map_slot *slot = u64map_find(&table->blocks, address);
    return slot != NULL && slot->value != 0;
}

int
traces_lookup(trace_table *table, uintptr_t address, size_t *size,
              uint32_t *site_id)
{
    u64map_slot *slot = u64map_find(&table->blocks, address);
    if (slot == NULL || slot->value == 0 ||
        (uint32_t)slot->value == TRACES_PARKED_SITE) {
        return 0;
    }
    *size = unpack_size(table, address, slot->value, 0);
    *site_id = (uint32_t)slot->value;
    return 1;
}

void
traces_park_oldest_dying(trace_table *table)
{
    /* The oldest death: its block is in a free list by now, or its free is
       deferred (the trashcan): parking is right either way. */
    uintptr_t oldest = table->dying[0];
    memmove(&table->dying[0], &table->dying[1],
            (TRACES_DYING_MAX - 1) * sizeof(uintptr_t));
    table->n_dying--;
    traces_park(table, oldest);
}

void
traces_drop_dying(trace_table *table, uintptr_t address)
{
    for (unsigned i = table->n_dying; i-- > 0;) {
        if (table->dying[i] == address) {
            memmove(&table->dying[i], &table->dying[i + 1],
                    (table->n_dying - i - 1) * sizeof(uintptr_t));
            table->n_dying--;
            return;
        }
    }
}

void
traces_settle(trace_table *table)
{
    while (table->n_dying != 0) {
        /* traces_park drops the note it parks. */
        traces_park(table, table->dying[table->n_dying - 1]);
    }
}

void
traces_reset(trace_table *table)
{
    table->n_dying = 0;
    u64map_reset(&table->blocks, 1024);
    u64map_reset(&table->big_sizes, 16);
    atomic_store_explicit(&traces_totals[table->kind], 0,
                          memory_order_relaxed);
}

size_t
traces_count(const trace_table *table)
{
    return u64map_live(&table->blocks);
}

size_t
traces_current(void)
{
    return traces_sum_of_totals();
}

size_t
traces_peak(void)
{
    size_t peak = 0;
    for (int i = 0; i < 2; i++) {
        size_t seen =
            atomic_load_explicit(&traces_peak_seen[i], memory_order_relaxed);
        peak = seen > peak ? seen : peak;
    }
    size_t current = traces_current();
    return peak > current ? peak : current;
}

void
traces_reset_peak(void)
{
    size_t current = traces_current();
    for (int i = 0; i < 2; i++) {
        atomic_store_explicit(&traces_peak_seen[i], current,
                              memory_order_relaxed);
    }
}
