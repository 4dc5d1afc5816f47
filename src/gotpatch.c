#include "hooks.h" /* first: Python.h sets the C library's feature macros */
#include "gotpatch.h"

#include <errno.h>

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))

#include <dlfcn.h>
#include <elf.h>
#include <glib.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#    define RELOC_JUMP_SLOT R_X86_64_JUMP_SLOT
#    define RELOC_GLOB_DAT R_X86_64_GLOB_DAT
#else
#    define RELOC_JUMP_SLOT R_AARCH64_JUMP_SLOT
#    define RELOC_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

/* ---- the wrappers ------------------------------------------------------ */

static int
seen_track(unsigned int domain, uintptr_t ptr, size_t size)
{
    int status = PyTraceMalloc_Track(domain, ptr, size);
    int saved_errno = errno; /* our locks may leave EAGAIN (hooks.c) */
    int ours = hooks_track_block(domain, ptr, size);
    errno = saved_errno;
    /* Our own failure never fails the caller's allocation (numpy frees
       the block when Track says -1). */
    return status == -2 && ours != -2 ? 0 : status;
}

static int
seen_untrack(unsigned int domain, uintptr_t ptr)
{
    int status = PyTraceMalloc_Untrack(domain, ptr);
    int saved_errno = errno;
    int ours = hooks_untrack_block(domain, ptr);
    errno = saved_errno;
    return status == -2 && ours != -2 ? 0 : status;
}

static void rescan_if_loaded(void);

static void *
seen_dlopen(const char *file, int mode)
{
    void *handle = dlopen(file, mode);
    if (handle != NULL) {
        rescan_if_loaded();
    }
    return handle;
}

/* ---- the scan ----------------------------------------------------------- */

enum { TARGET_TRACK, TARGET_UNTRACK, TARGET_DLOPEN, N_TARGETS };
static const char *const target_names[N_TARGETS] = {
    "PyTraceMalloc_Track", "PyTraceMalloc_Untrack", "dlopen"};

static void *
target_replacement(int target)
{
    switch (target) {
    case TARGET_TRACK:
        return (void *)seen_track;
    case TARGET_UNTRACK:
        return (void *)seen_untrack;
    default:
        return (void *)seen_dlopen;
    }
}

/* Guards the scans and the counters below; scans run from enable() and
   from any thread's dlopen. */
static GMutex scan_lock;
static unsigned long long scanned_adds;
static unsigned long long scanned_subs;
static size_t scanned_objects;

typedef struct {
    int list_only;       /* gotpatch_names: find, do not patch */
    size_t skip;         /* objects already scanned (none unloaded since) */
    size_t index;        /* objects seen so far in this walk */
    int reporters;       /* objects whose Track/Untrack calls reach us */
    char *names;         /* gotpatch_names' buffer */
    size_t capacity;
    size_t needed;
    unsigned long long adds, subs;
} scan_state;

static int
object_contains(const struct dl_phdr_info *info, uintptr_t address)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && address >= start &&
            address < start + ph->p_memsz) {
            return 1;
        }
    }
    return 0;
}

/* The loader relocates most dynamic entries in place, but not the vDSO's:
   an address below the load base is still an offset. */
static uintptr_t
dynamic_address(const struct dl_phdr_info *info, ElfW(Addr) value)
{
    return value < info->dlpi_addr ? info->dlpi_addr + value : value;
}

/* Write one GOT slot, lifting RELRO's write protection for the store. */
static int
write_slot(void **slot, void *value, uintptr_t relro_start,
           uintptr_t relro_end)
{
    uintptr_t address = (uintptr_t)slot;
    int protected = address >= relro_start && address < relro_end;
    uintptr_t page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    void *page = (void *)(address & ~(page_size - 1));
    if (protected && mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) {
        return -1;
    }
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
    if (protected) {
        mprotect(page, page_size, PROT_READ);
    }
    return 0;
}

/* Patch (or, list_only, look at) the GOT slots of one object that refer
   to an undefined symbol among `wanted`; returns the targets hooked. */
static int
scan_object(const struct dl_phdr_info *info, const int *wanted, int list_only)
{
    const ElfW(Dyn) *dynamic = NULL;
    uintptr_t relro_start = 0, relro_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC) {
            dynamic = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
        }
        else if (ph->p_type == PT_GNU_RELRO) {
            relro_start = info->dlpi_addr + ph->p_vaddr;
            relro_end = relro_start + ph->p_memsz;
        }
    }
    if (dynamic == NULL) {
        return 0;
    }
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    size_t strsz = 0;
    const ElfW(Rela) *tables[2] = {NULL, NULL};
    size_t sizes[2] = {0, 0};
    for (const ElfW(Dyn) *d = dynamic; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB:
            symtab = (const ElfW(Sym) *)dynamic_address(info, d->d_un.d_ptr);
            break;
        case DT_STRTAB:
            strtab = (const char *)dynamic_address(info, d->d_un.d_ptr);
            break;
        case DT_STRSZ:
            strsz = d->d_un.d_val;
            break;
        case DT_JMPREL:
            tables[0] =
                (const ElfW(Rela) *)dynamic_address(info, d->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            sizes[0] = d->d_un.d_val;
            break;
        case DT_RELA:
            tables[1] =
                (const ElfW(Rela) *)dynamic_address(info, d->d_un.d_ptr);
            break;
        case DT_RELASZ:
            sizes[1] = d->d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (symtab == NULL || strtab == NULL) {
        return 0;
    }
    int hooked = 0;
    for (int t = 0; t < 2; t++) {
        size_t n = tables[t] == NULL ? 0 : sizes[t] / sizeof(ElfW(Rela));
        for (size_t i = 0; i < n; i++) {
            const ElfW(Rela) *rela = &tables[t][i];
            unsigned long type = ELF64_R_TYPE(rela->r_info);
            if (type != RELOC_JUMP_SLOT && type != RELOC_GLOB_DAT) {
                continue;
            }
            const ElfW(Sym) *sym = &symtab[ELF64_R_SYM(rela->r_info)];
            if (sym->st_shndx != SHN_UNDEF || sym->st_name >= strsz) {
                continue; /* the object's own definition: not an import */
            }
            const char *name = strtab + sym->st_name;
            for (int target = 0; target < N_TARGETS; target++) {
                if (!wanted[target] || strcmp(name, target_names[target])) {
                    continue;
                }
                void **slot = (void **)(info->dlpi_addr + rela->r_offset);
                void *ours = target_replacement(target);
                if (__atomic_load_n(slot, __ATOMIC_ACQUIRE) == ours ||
                    (!list_only &&
                     write_slot(slot, ours, relro_start, relro_end) == 0)) {
                    hooked |= 1 << target;
                }
            }
        }
    }
    return hooked;
}

/* CPython's own test extensions (_testcapi, _testinternalcapi, ...) call
   PyTraceMalloc_Track to test stdlib's answers (-2 once stdlib is stopped):
   they are left alone, so CPython's test suite passes traced. */
static int
is_cpython_test_module(const char *path)
{
    if (path == NULL) {
        return 0;
    }
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    return strncmp(base, "_test", 5) == 0;
}

static int
visit_object(struct dl_phdr_info *info, size_t info_size, void *data)
{
    scan_state *state = data;
    if (info_size >= offsetof(struct dl_phdr_info, dlpi_subs) +
                         sizeof(info->dlpi_subs)) {
        state->adds = info->dlpi_adds;
        state->subs = info->dlpi_subs;
    }
    size_t index = state->index++;
    if (index < state->skip || object_contains(info, (uintptr_t)seen_track) ||
        is_cpython_test_module(info->dlpi_name)) {
        return 0;
    }
    int wanted[N_TARGETS] = {1, 1, 0};
    if (object_contains(info, (uintptr_t)PyTraceMalloc_Track)) {
        /* The interpreter itself: its dlopen loads the extension modules.
           Only there, since dlopen searches the caller's run path. */
        wanted[TARGET_TRACK] = wanted[TARGET_UNTRACK] = 0;
        wanted[TARGET_DLOPEN] = 1;
    }
    int hooked = scan_object(info, wanted, state->list_only);
    if (hooked & ((1 << TARGET_TRACK) | (1 << TARGET_UNTRACK))) {
        state->reporters++;
        const char *name = info->dlpi_name ? info->dlpi_name : "";
        size_t length = strlen(name) + 1;
        if (state->names != NULL &&
            state->needed + length <= state->capacity) {
            memcpy(state->names + state->needed, name, length);
        }
        state->needed += length;
    }
    return 0;
}

/* scan_lock held. */
static int
scan(size_t skip)
{
    scan_state state = {0};
    state.skip = skip;
    dl_iterate_phdr(visit_object, &state);
    scanned_adds = state.adds;
    scanned_subs = state.subs;
    scanned_objects = state.index;
    return state.reporters;
}

static int
read_counters(struct dl_phdr_info *info, size_t info_size, void *data)
{
    unsigned long long *counters = data;
    if (info_size >= offsetof(struct dl_phdr_info, dlpi_subs) +
                         sizeof(info->dlpi_subs)) {
        counters[0] = info->dlpi_adds;
        counters[1] = info->dlpi_subs;
    }
    return 1; /* the counters are the same in every entry */
}

static void
rescan_if_loaded(void)
{
    unsigned long long counters[2] = {0, 0};
    dl_iterate_phdr(read_counters, counters);
    g_mutex_lock(&scan_lock);
    if (counters[0] != scanned_adds || counters[1] != scanned_subs) {
        /* New objects come last in the loader's list; after an unload the
           list may have holes, so walk it all. */
        scan(counters[1] == scanned_subs ? scanned_objects : 0);
    }
    g_mutex_unlock(&scan_lock);
}

int
gotpatch_supported(void)
{
    return 1;
}

/* A fork while another thread scans must not leave the child's lock
   taken. */
static void
lock_scans(void)
{
    g_mutex_lock(&scan_lock);
}

static void
unlock_scans(void)
{
    g_mutex_unlock(&scan_lock);
}

int
gotpatch_install(void)
{
    static int fork_handlers;
    if (!fork_handlers &&
        pthread_atfork(lock_scans, unlock_scans, unlock_scans) == 0) {
        fork_handlers = 1;
    }
    g_mutex_lock(&scan_lock);
    /* Every time: an entry resolved lazily by a racing first call may have
       been overwritten with CPython's address. */
    int reporters = scan(0);
    g_mutex_unlock(&scan_lock);
    return reporters;
}

size_t
gotpatch_names(char *names, size_t capacity)
{
    scan_state state = {0};
    state.list_only = 1;
    state.names = names;
    state.capacity = capacity;
    g_mutex_lock(&scan_lock);
    dl_iterate_phdr(visit_object, &state);
    g_mutex_unlock(&scan_lock);
    return state.needed;
}

#else /* no ELF GOT to patch here */

int
gotpatch_supported(void)
{
    return 0;
}

int
gotpatch_install(void)
{
    return 0;
}

size_t
gotpatch_names(char *names, size_t capacity)
{
    (void)names;
    (void)capacity;
    return 0;
}

#endif
