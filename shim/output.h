/* output.h -- where reports go (the shim's own fds: ownfd.h). */
#ifndef SL_OUTPUT_H
#define SL_OUTPUT_H

#include <stddef.h>

/* Write buf (whole lines) to the report destination with one write(2) where
 * the kernel allows: stderr, or log_path's PREFIX.PID opened on first use. */
void sl_out_write(const char *buf, size_t len);

/* Write one line to stderr regardless of log_path (warnings, help). */
void sl_out_warn(const char *line);

/* The watcher process writes to its host's PREFIX.PID. */
void sl_out_set_pid(int pid);
/* Attach mode: write every report (and warning, as a JSON "warning" event)
 * to fd, which becomes one of the shim's fds, moved into its fd zone if
 * move (ownfd.h); nothing goes to stderr or log_path. Returns 0, or -1
 * (fd closed) when that fails. */
int sl_out_use_fd(int fd, int move);
/* That fd, or -1 when not attached (the watcher process gets it). */
int sl_out_fixed_fd(void);
/* Its fd zone slot (ownfd.h), -1 when not attached. */
int sl_out_fixed_slot(void);
/* Close that fd and go back to stderr/log_path (detach). */
void sl_out_close(void);

/* A fork child: its report goes to its own PREFIX.PID. */
void sl_out_after_fork(void);

#endif
