/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event on stderr, text or JSON.
 *
 * The log configuration is the one piece of process-wide state the project
 * allows (STYLE.md 2.1); log_reset() returns it to the defaults so that tests
 * can start clean. Every line passes through the redaction filter: any value
 * registered with log_secret_add() is replaced by "[REDACTED]" wherever it
 * appears in the formatted message, so a secret that slips into a format
 * argument (an error string that echoes its input, say) is still not written.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* Restore defaults (info, text, role "init", fd 2) and forget all secrets. */
void log_reset(void);

/* Set the minimum level written. */
void log_set_level(enum log_level level);

/* Select text or JSON lines. */
void log_set_format(enum log_format format);

/*
 * Set the role tag ("init", "sync", ...). The string must outlive logging
 * (a literal). Text lines read "tenant-init[PID]: ..." for "init" and
 * "tenant-init/ROLE[PID]: ..." otherwise.
 */
void log_set_role(const char *role);

/* Write lines to fd instead of stderr (tests). The fd is not owned. */
void log_set_fd(int fd);

/* True when a message at level would be written. */
bool log_is_enabled(enum log_level level);

/*
 * Register a secret value for redaction. The log module keeps its own copy,
 * wiped when log_reset() runs. Values shorter than 3 bytes are ignored (they
 * would redact ordinary words). Returns 0 or -ENOMEM / -ENOSPC.
 */
int log_secret_add(const char *value, size_t len);

/* Parse "debug|info|warn|error"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Parse "text|json"; returns 0 or -EINVAL. */
int log_format_parse(const char *s, enum log_format *out);

/*
 * Format and write one line. Saves and restores errno, so callers can log
 * between a failing call and a use of errno. Never allocates in text mode.
 */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* As log_msg, with ": strerror(err)" appended (err positive or negative). */
void log_msg_errno(enum log_level level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(fmt, ...)                                                    \
	log_msg(LOG_LEVEL_DEBUG, "%s: " fmt, __func__, ##__VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_err(...)  log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn_errno(err, ...)                                               \
	log_msg_errno(LOG_LEVEL_WARN, (err), __VA_ARGS__)
#define log_err_errno(err, ...)                                                \
	log_msg_errno(LOG_LEVEL_ERROR, (err), __VA_ARGS__)
