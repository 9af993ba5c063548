/* SPDX-License-Identifier: MIT */
#include "init/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX	4096
#define LOG_SECRETS_MAX 64
#define REDACTED	"[REDACTED]"

struct log_secret {
	char *value;
	size_t len;
};

/* The one global the project keeps: the log configuration. */
static struct {
	enum log_level level;
	enum log_format format;
	const char *role;
	int fd;
	size_t nsecrets;
	struct log_secret secrets[LOG_SECRETS_MAX];
} log_cfg = {
    .level = LOG_LEVEL_INFO,
    .format = LOG_FORMAT_TEXT,
    .role = "init",
    .fd = 2,
};

static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};

void log_reset(void)
{
	for (size_t i = 0; i < log_cfg.nsecrets; i++) {
		explicit_bzero(log_cfg.secrets[i].value,
			       log_cfg.secrets[i].len);
		free(log_cfg.secrets[i].value);
		log_cfg.secrets[i].value = NULL;
	}
	log_cfg.nsecrets = 0;
	log_cfg.level = LOG_LEVEL_INFO;
	log_cfg.format = LOG_FORMAT_TEXT;
	log_cfg.role = "init";
	log_cfg.fd = 2;
}

void log_set_level(enum log_level level)
{
	log_cfg.level = level;
}

void log_set_format(enum log_format format)
{
	log_cfg.format = format;
}

void log_set_role(const char *role)
{
	log_cfg.role = role;
}

void log_set_fd(int fd)
{
	log_cfg.fd = fd;
}

bool log_is_enabled(enum log_level level)
{
	return level >= log_cfg.level;
}

int log_secret_add(const char *value, size_t len)
{
	if (!value || len < 3)
		return 0;
	for (size_t i = 0; i < log_cfg.nsecrets; i++)
		if (log_cfg.secrets[i].len == len &&
		    memcmp(log_cfg.secrets[i].value, value, len) == 0)
			return 0;
	if (log_cfg.nsecrets == LOG_SECRETS_MAX)
		return -ENOSPC;
	char *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, value, len);
	log_cfg.secrets[log_cfg.nsecrets].value = copy;
	log_cfg.secrets[log_cfg.nsecrets].len = len;
	log_cfg.nsecrets++;
	return 0;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return 0;
	}
	return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -EINVAL;
	return 0;
}

/*
 * Replace every registered secret in buf (NUL-terminated, capacity cap) with
 * the marker. Works in place from left to right; a line that would grow past
 * the buffer is truncated, never left holding part of a secret.
 */
static void redact(char *buf, size_t cap)
{
	const size_t mlen = sizeof(REDACTED) - 1;

	for (size_t i = 0; i < log_cfg.nsecrets; i++) {
		const struct log_secret *s = &log_cfg.secrets[i];
		char *p = buf;
		size_t len = strlen(buf);

		while ((p = memmem(p, len - (size_t)(p - buf), s->value,
				   s->len)) != NULL) {
			size_t tail = len - (size_t)(p - buf) - s->len;
			size_t room = cap - 1 - (size_t)(p - buf);

			if (mlen > room) {
				*p = '\0';
				break;
			}
			if (mlen + tail > room)
				tail = room - mlen;
			memmove(p + mlen, p + s->len, tail);
			memcpy(p, REDACTED, mlen);
			p[mlen + tail] = '\0';
			len = (size_t)(p - buf) + mlen + tail;
			p += mlen;
		}
	}
}

/*
 * A message cut by truncation may end in the first bytes of a secret that
 * the redaction pass can no longer recognise: drop any such tail.
 */
static void cut_partial_secret(char *buf)
{
	size_t len = strlen(buf);

	for (size_t i = 0; i < log_cfg.nsecrets; i++) {
		const struct log_secret *s = &log_cfg.secrets[i];
		for (size_t k = s->len - 1; k > 0; k--) {
			if (k <= len &&
			    memcmp(buf + len - k, s->value, k) == 0) {
				len -= k;
				buf[len] = '\0';
				break;
			}
		}
	}
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void format_time(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	(void)snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void emit(enum log_level level, const char *msg)
{
	char ts[40];
	char line[LOG_LINE_MAX + 128];
	int n;

	format_time(ts, sizeof(ts));
	if (log_cfg.format == LOG_FORMAT_JSON) {
		json_t *o =
		    json_pack("{s:s, s:s, s:s, s:i, s:s}", "ts", ts, "level",
			      level_names[level], "role", log_cfg.role, "pid",
			      (int)getpid(), "msg", msg);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (s) {
			size_t len = strlen(s);
			s[len] = '\n';
			write_all(log_cfg.fd, s, len + 1);
			s[len] = '\0';
			free(s);
			return;
		}
		/* Out of memory: fall back to a text line, never lose it. */
	}
	if (strcmp(log_cfg.role, "init") == 0)
		n = snprintf(line, sizeof(line), "%s tenant-init[%d]: %s: %s\n",
			     ts, (int)getpid(), level_names[level], msg);
	else
		n = snprintf(
		    line, sizeof(line), "%s tenant-init/%s[%d]: %s: %s\n", ts,
		    log_cfg.role, (int)getpid(), level_names[level], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	write_all(log_cfg.fd, line, (size_t)n);
}

static void vlog(enum log_level level, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vlog(enum log_level level, int err, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		cut_partial_secret(msg);
	if (err != 0 && (size_t)n < sizeof(msg))
		(void)snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
			       strerror(err < 0 ? -err : err));
	redact(msg, sizeof(msg));
	/* Control characters would let one event forge another line. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	emit(level, msg);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (log_is_enabled(level)) {
		va_start(ap, fmt);
		vlog(level, 0, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

void log_msg_errno(enum log_level level, int err, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (log_is_enabled(level)) {
		va_start(ap, fmt);
		vlog(level, err, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}
