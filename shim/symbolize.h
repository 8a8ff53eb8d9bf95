/* symbolize.h -- return addresses to function, file:line and module+offset
 * (elfutils libdw), used only at report time. */
#ifndef SL_SYMBOLIZE_H
#define SL_SYMBOLIZE_H

#include <stdint.h>
#include <sys/types.h>

struct sl_frame {
    uintptr_t pc;            /* the return address as captured */
    const char *module;      /* path of the ELF object, or NULL */
    uintptr_t offset;        /* pc - load bias of module (as in "module+0x1234") */
    const char *function;    /* demangled if possible, or NULL */
    const char *file;        /* source file (full path when DWARF has it), or NULL */
    int line;                /* 0 when unknown */
    int column;              /* 0 when unknown */
    int inlined;             /* 1: an inlined call inside the next frame's function */
    const char *lang;        /* "python", "java", "js" for a language frame
                              * (pc, module, offset then 0/NULL), else NULL */
};

/* Expand the return address pc into frames (innermost first): the inlined
 * calls at pc, if DWARF records any, then the real function. File:line
 * lookups use pc - 1 (the call instruction, not the one after it).
 * Returns the number of frames written to out (at most max, at least 1 when
 * max >= 1). Strings stay valid until sl_symbolize_reset(). Not async-signal
 * safe; may allocate and open files. */
int sl_symbolize(uintptr_t pc, struct sl_frame *out, int max);

/* Symbolize the pcs of process pid (the watcher process does it for the
 * program it watches), reading its /proc/PID/maps. */
void sl_symbolize_set_pid(pid_t pid);

/* Drop all state (after fork, or to free memory). */
void sl_symbolize_reset(void);

#endif
