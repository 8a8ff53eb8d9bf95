/* output.h -- where reports go, and the shim's own (private) fds. */
#ifndef SL_OUTPUT_H
#define SL_OUTPUT_H

#include <stddef.h>

/* Write buf (whole lines) to the report destination with one write(2) where
 * the kernel allows: stderr, or log_path's PREFIX.PID opened on first use. */
void sl_out_write(const char *buf, size_t len);

/* Write one line to stderr regardless of log_path (warnings, help). */
void sl_out_warn(const char *line);

/* Private fds: the shim's own (report file, netlink). They are never
 * tracked; if the program closes one (closefrom, a close loop) the owner
 * learns it was lost and must neither use nor close that number again. */
int sl_private_add(int fd);            /* returns a slot, or -1 if full */

/* Move a freshly opened fd of the shim's up, near RLIMIT_NOFILE, so the
 * program's own fds keep the numbers they have without the shim. Returns
 * the new fd (the old one is closed), or fd itself when it cannot move. */
int sl_private_move_high(int fd);
int sl_private_is(int fd);
void sl_private_lost(int fd);          /* the program is closing fd */
void sl_private_lost_range(unsigned first, unsigned last);
int sl_private_fd(int slot);           /* -1 once lost */
void sl_private_close(int slot);       /* close it unless lost */

/* The watcher process writes to its host's PREFIX.PID. */
void sl_out_set_pid(int pid);
/* Attach mode: write every report (and warning, as a JSON "warning" event)
 * to fd, which becomes a private fd; nothing goes to stderr or log_path.
 * Returns 0, or -1 when no private slot is free. */
int sl_out_use_fd(int fd);
/* That fd, or -1 when not attached (the watcher process gets it). */
int sl_out_fixed_fd(void);
/* Close that fd and go back to stderr/log_path (detach). */
void sl_out_close(void);

/* A fork child: its report goes to its own PREFIX.PID. */
void sl_out_after_fork(void);

#endif
