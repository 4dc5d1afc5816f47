#include "freelists.h"

#include <dlfcn.h>

#include "frames.h"
#include "hooks.h"
#include "traces.h"

/* The API added by patches/python3.11-free-list-hooks.patch.  Our own
   layout: the patch is ours. */
typedef struct {
    void *ctx;
    void (*keep)(void *ctx, void *block);
    void (*reuse)(void *ctx, void *block);
} free_list_hooks;
typedef void (*set_hooks_function)(const free_list_hooks *hooks);

/* Set once at import. */
static set_hooks_function set_free_list_hooks;

static void
keep_block(void *Py_UNUSED(ctx), void *block)
{
    if (hooks_in_tracer() || !hooks_is_enabled()) {
        return;
    }
    traces_park(hooks_gil_table(), (uintptr_t)block);
}

static void
reuse_block(void *Py_UNUSED(ctx), void *block)
{
    if (hooks_in_tracer() || !hooks_is_enabled()) {
        return;
    }
    hooks_untraced_begin();
    uint32_t site = frames_capture_site_with_gil(compat_tstate_gil_known());
    if (site != 0) {
        traces_move(hooks_gil_table(), (uintptr_t)block, site);
    }
    hooks_untraced_end();
}

int
freelists_init(void)
{
    set_free_list_hooks =
        (set_hooks_function)dlsym(RTLD_DEFAULT, "PyFreeList_SetHooks");
    return 0;
}

const char *
freelists_mode(void)
{
    if (set_free_list_hooks != NULL) {
        return "hooks";
    }
#if PY_VERSION_HEX < 0x030D0000 && !defined(WITH_FREELISTS)
    /* pyconfig.h of a 3.11/3.12 interpreter built --without-freelists */
    return "disabled";
#else
    return "untracked";
#endif
}

void
freelists_start(void)
{
    if (set_free_list_hooks != NULL) {
        static const free_list_hooks ours = {NULL, keep_block, reuse_block};
        set_free_list_hooks(&ours);
    }
}

void
freelists_stop(void)
{
    if (set_free_list_hooks != NULL) {
        set_free_list_hooks(NULL);
    }
}
