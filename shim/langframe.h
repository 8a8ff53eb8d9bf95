/* langframe.h -- what the shim's report and the sockleak command both need
 * to know about language frames (Python, Java, JavaScript): which belong to
 * the runtime's own library, and how each language prints a frame. */
#ifndef SL_LANGFRAME_H
#define SL_LANGFRAME_H

#include <stddef.h>

/* 1 for a frame of the runtime's standard library (CPython's Lib/, the
 * JDK's java.* / sun.* / jdk.* classes, node's node:* modules): a leak's
 * headline names the innermost frame that is not. lang is "python",
 * "java" or "js"; function and file may be NULL. */
int sl_langframe_is_library(const char *lang, const char *function, const char *file);

/* The frame as its language prints it, so a user can click it:
 *   python: File "/app/billing.py", line 41, in charge_card
 *   java:   at com.acme.Billing.charge(Billing.java:41)
 *   js:     at charge (/app/billing.js:41:10)
 * Writes at most len bytes (NUL included) to buf. */
void sl_langframe_text(char *buf, size_t len, const char *lang, const char *function,
                       const char *file, long line, long column);

/* "charge_card (billing.py:41)": function and file base name, for headlines. */
void sl_langframe_short(char *buf, size_t len, const char *function, const char *file,
                        long line);

#endif
