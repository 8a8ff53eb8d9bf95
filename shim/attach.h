/* attach.h -- "sockleak attach PID": the shim loaded into a running process
 * by dlopen (tools/inject.c) interposes by patching the GOT slots of every
 * loaded object instead of by LD_PRELOAD. The entry points the injector
 * calls, sl_attach() and sl_detach(), are the library's only exports besides
 * the hooks. */
#ifndef SL_ATTACH_H
#define SL_ATTACH_H

/* Start tracking in this (running) process: options is a SOCKLEAK_OPTIONS
 * string. Returns the fd of the memfd the reports go to (the sockleak
 * command reads it through /proc/PID/fd/N), or -errno: -EEXIST when the
 * shim already runs here (preloaded or attached). */
int sl_attach(const char *options);

/* Write the final report, restore every GOT slot that still holds a hook,
 * stop the shim's threads and close its fds. Returns 0, or -ENOENT when not
 * attached. The library stays mapped: a thread may still be inside a hook
 * (blocked in accept(), say) and will return through its code. */
int sl_detach(void);

/* The constructor: 1 when the library was dlopen'ed into a running process
 * (its hooks are not what the program's calls resolve to), so it must wait
 * for sl_attach() instead of starting as a preload does. */
int sl_attach_loaded_late(void);

#endif
