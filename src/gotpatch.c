#include "hooks.h" /* first: Python.h sets the C library's feature macros */
#include "gotpatch.h"
#include "native.h"
#include "u64map.h"

#include <errno.h>

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))

#include <dlfcn.h>
#include <elf.h>
#include <gnu/libc-version.h>
#include <sys/auxv.h>
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

/* dlopen finds a bare name on the run path of its caller's object, and
   our wrapper is the caller now: look on the original caller's search
   path (what dlinfo reports for it) first, then as dlopen would from
   here (LD_LIBRARY_PATH, the cache, the system directories). */
static void *
open_as_caller(const void *caller, const char *file, int mode)
{
    void *loaded = dlopen(file, (mode & ~RTLD_NOW) | RTLD_LAZY | RTLD_NOLOAD);
    if (loaded != NULL) {
        /* Already there under that name: dlopen takes it whatever the
           search path. */
        dlclose(loaded);
        return NULL;
    }
    Dl_info where;
    if (dladdr(caller, &where) == 0 || where.dli_fname == NULL) {
        return NULL;
    }
    void *self = dlopen(where.dli_fname[0] ? where.dli_fname : NULL,
                        RTLD_LAZY | RTLD_NOLOAD);
    if (self == NULL) {
        return NULL;
    }
    void *handle = NULL;
    Dl_serinfo size;
    Dl_serinfo *paths = NULL;
    if (dlinfo(self, RTLD_DI_SERINFOSIZE, &size) == 0 &&
        (paths = malloc(size.dls_size)) != NULL) {
        memcpy(paths, &size, sizeof(size));
        if (dlinfo(self, RTLD_DI_SERINFO, paths) == 0) {
            char path[4096];
            for (unsigned i = 0; i < paths->dls_cnt && handle == NULL; i++) {
                int n = snprintf(path, sizeof(path), "%s/%s",
                                 paths->dls_serpath[i].dls_name, file);
                if (n > 0 && (size_t)n < sizeof(path) &&
                    access(path, F_OK) == 0) {
                    handle = dlopen(path, mode);
                }
            }
        }
    }
    free(paths);
    dlclose(self);
    return handle;
}

/* dlopen of every object but the interpreter, while native tracing is on:
   the libraries an extension or ctypes loads are patched as they load. */
static void *
native_dlopen(const char *file, int mode)
{
    void *handle = NULL;
    if (file != NULL && strchr(file, '/') == NULL) {
        int saved_errno = errno;
        handle = open_as_caller(__builtin_return_address(0), file, mode);
        errno = saved_errno;
    }
    if (handle == NULL) {
        handle = dlopen(file, mode);
    }
    if (handle != NULL) {
        rescan_if_loaded();
    }
    return handle;
}

/* ---- the scan ----------------------------------------------------------- */

/* What one object gets: the reporters' pair, the interpreter's dlopen, or
   (native tracing on) the allocation functions and dlopen: a symbol and
   our function for it, as native.h lists its own. */
typedef native_target target;

enum { MAX_TARGETS = 32 };

static const target report_targets[] = {
    {"PyTraceMalloc_Track", (void *)seen_track},
    {"PyTraceMalloc_Untrack", (void *)seen_untrack}};
static const target interpreter_targets[] = {{"dlopen", (void *)seen_dlopen}};

/* Guards the scans, the counters below and saved_slots; scans run from
   enable() and from any thread's dlopen. */
static GMutex scan_lock;
static unsigned long long scanned_adds;
static unsigned long long scanned_subs;
static size_t scanned_objects;
static int native_patching; /* scan_lock */
/* GOT slot address -> its value before a native wrapper went in, put back
   by gotpatch_set_native(0).  scan_lock. */
static u64map saved_slots;
static int saved_slots_ready;

enum { LIST_ONLY, PATCH, RESTORE };

typedef struct {
    int mode;
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

/* One GOT slot of `wanted`: patch it (PATCH), look at it (LIST_ONLY) or
   put back what a native wrapper replaced (RESTORE).  Whether it is ours
   after that.  scan_lock held. */
static int
visit_slot(void **slot, const target *wanted, int mode, int save,
           uintptr_t relro_start, uintptr_t relro_end)
{
    void *now = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (mode == RESTORE) {
        if (now != wanted->replacement) {
            return 0; /* another tool's since: its to put back */
        }
        uint64_t original = 0;
        if (!u64map_pop(&saved_slots, (uintptr_t)slot, &original)) {
            original = (uintptr_t)dlsym(RTLD_DEFAULT, wanted->name);
        }
        if (original != 0) {
            write_slot(slot, (void *)(uintptr_t)original, relro_start,
                       relro_end);
        }
        return 0;
    }
    if (now == wanted->replacement) {
        return 1;
    }
    if (mode == LIST_ONLY) {
        return 0;
    }
    if (save && u64map_put(&saved_slots, (uintptr_t)slot, (uintptr_t)now) < 0) {
        return 0; /* what to put back could not be kept: leave it */
    }
    return write_slot(slot, wanted->replacement, relro_start, relro_end) == 0;
}

/* Visit the GOT slots of one object that refer to an undefined symbol
   among `wanted` (the first `n_kept` patched for good, the others saved
   for RESTORE); returns the bit set of the targets that are ours. */
static uint64_t
scan_object(const struct dl_phdr_info *info, const target *wanted,
            size_t n_wanted, size_t n_kept, int mode)
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
    uint64_t hooked = 0;
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
            for (size_t k = 0; k < n_wanted; k++) {
                if (strcmp(name, wanted[k].name) != 0) {
                    continue;
                }
                void **slot = (void **)(info->dlpi_addr + rela->r_offset);
                if (visit_slot(slot, &wanted[k], mode, k >= n_kept,
                               relro_start, relro_end)) {
                    hooked |= (uint64_t)1 << k;
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

/* Objects whose allocations are not native blocks: the C library and the
   loader (whose own calls are internal, and which the wrappers call), the
   vDSO, and an allocator preloaded in libc's place (its mmap calls are its
   heap, not blocks). */
static int
is_system_object(const struct dl_phdr_info *info)
{
    const char *name = info->dlpi_name != NULL ? info->dlpi_name : "";
    return object_contains(info, (uintptr_t)gnu_get_libc_version) ||
           object_contains(info, (uintptr_t)malloc) ||
           object_contains(info, (uintptr_t)dlopen) ||
           (info->dlpi_addr != 0 && info->dlpi_addr == getauxval(AT_BASE)) ||
           strstr(name, "linux-vdso") != NULL ||
           strstr(name, "linux-gate") != NULL;
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
    target wanted[MAX_TARGETS];
    size_t n = 0, n_kept;
    if (object_contains(info, (uintptr_t)PyTraceMalloc_Track)) {
        /* The interpreter itself: its dlopen loads the extension modules.
           Only there, since dlopen searches the caller's run path.  Its
           own allocations through libc are not native blocks: those of
           PyMem_RawMalloc are traced in their domain already. */
        wanted[n++] = interpreter_targets[0];
        n_kept = n;
    }
    else {
        wanted[n++] = report_targets[0];
        wanted[n++] = report_targets[1];
        n_kept = n;
        /* RESTORE walks the native targets whatever native_patching says:
           it is off by then. */
        if ((native_patching || state->mode == RESTORE) &&
            !is_system_object(info)) {
            for (size_t i = 0; i < native_n_targets && n + 1 < MAX_TARGETS;
                 i++) {
                wanted[n++] = native_targets[i];
            }
            wanted[n++] = (target){"dlopen", (void *)native_dlopen};
        }
    }
    if (state->mode == RESTORE) {
        scan_object(info, wanted + n_kept, n - n_kept, 0, RESTORE);
        return 0;
    }
    uint64_t hooked = scan_object(info, wanted, n, n_kept, state->mode);
    if (n_kept == 2 && (hooked & 3) != 0) {
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
    state.mode = PATCH;
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

int
gotpatch_set_native(int on)
{
    g_mutex_lock(&scan_lock);
    if (!saved_slots_ready) {
        if (u64map_init(&saved_slots, 64) < 0) {
            g_mutex_unlock(&scan_lock);
            return -1;
        }
        saved_slots_ready = 1;
    }
    if (on) {
        /* Recording first: a block a wrapper takes is recorded from its
           first call. */
        native_set_enabled(1);
        native_patching = 1;
        scan(0);
    }
    else if (native_patching) {
        /* Passing through first, then the entries go back. */
        native_patching = 0;
        native_set_enabled(0);
        scan_state state = {0};
        state.mode = RESTORE;
        dl_iterate_phdr(visit_object, &state);
        u64map_reset(&saved_slots, 64);
    }
    g_mutex_unlock(&scan_lock);
    return 0;
}

size_t
gotpatch_names(char *names, size_t capacity)
{
    scan_state state = {0};
    state.mode = LIST_ONLY;
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

int
gotpatch_set_native(int on)
{
    return on ? -1 : 0;
}

size_t
gotpatch_names(char *names, size_t capacity)
{
    (void)names;
    (void)capacity;
    return 0;
}

#endif
