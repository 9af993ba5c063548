/* SPDX-License-Identifier: MIT */
/* Unit tests for init/log.c: redaction, formats, levels, errno. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init/log.h"
#include "tests/tap.h"

static int pipefd[2];

/* Drain what the log wrote so far into buf. */
static const char *captured(void)
{
	static char buf[65536];
	ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_redaction(void)
{
	const char *out;
	char big[8192];

	log_reset();
	log_set_fd(pipefd[1]);
	is_int(log_secret_add("hunter2-secret", 14), 0, "register a secret");
	is_int(log_secret_add("ab", 2), 0, "a too-short value is ignored");
	log_info("token=%s and again %s!", "hunter2-secret", "hunter2-secret");
	out = captured();
	ok(strstr(out, "hunter2") == NULL, "secret value never written");
	ok(strstr(out, "token=[REDACTED] and again [REDACTED]!") != NULL,
	   "every occurrence replaced: %s", out);
	log_info("ab cd");
	ok(strstr(captured(), "ab cd") != NULL,
	   "short values are not redacted");

	/* A secret straddling the truncation point must not leak a prefix. */
	memset(big, 'x', sizeof(big));
	memcpy(big + 4090, "hunter2-secret", 14);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	out = captured();
	ok(strstr(out, "hunter2") == NULL && strstr(out, "hunte") == NULL,
	   "no part of a secret survives truncation");

	/* Control characters cannot forge a second line. */
	log_info("line1\nFAKE: error: forged");
	out = captured();
	ok(strchr(out, '\n') == out + strlen(out) - 1,
	   "one line per event, embedded newline neutralised");
	log_reset();
	log_set_fd(pipefd[1]);
	log_info("hunter2-secret");
	ok(strstr(captured(), "hunter2-secret") != NULL,
	   "log_reset forgets secrets (and wipes its copies)");
}

static void test_levels_and_errno(void)
{
	log_reset();
	log_set_fd(pipefd[1]);
	log_set_level(LOG_LEVEL_WARN);
	log_info("quiet");
	log_warn("loud");
	const char *out = captured();
	ok(strstr(out, "quiet") == NULL && strstr(out, "warn: loud"),
	   "level filter");
	errno = EBUSY;
	log_warn_errno(-ENOENT, "unable to open %s", "x");
	is_int(errno, EBUSY, "logging preserves errno");
	ok(strstr(captured(), "unable to open x: No such file or directory"),
	   "_errno variant appends strerror of a negative code");
	enum log_level l;
	ok(log_level_parse("debug", &l) == 0 && l == LOG_LEVEL_DEBUG, "debug");
	ok(log_level_parse("nope", &l) < 0, "bad level refused");
	log_set_role("sync");
	log_set_level(LOG_LEVEL_INFO);
	log_info("hello");
	ok(strstr(captured(), "tenant-init/sync["), "role tag in text lines");
}

static void test_json(void)
{
	json_error_t e;
	json_t *o;

	log_reset();
	log_set_fd(pipefd[1]);
	log_set_format(LOG_FORMAT_JSON);
	(void)log_secret_add("s3cr3t-value", 12);
	log_err("quote \" backslash \\ tab\t and s3cr3t-value");
	o = json_loads(captured(), 0, &e);
	ok(o != NULL, "a JSON line parses: %s", o ? "" : e.text);
	is_str(json_string_value(json_object_get(o, "level")), "error",
	       "level field");
	is_str(json_string_value(json_object_get(o, "msg")),
	       "quote \" backslash \\ tab  and [REDACTED]",
	       "msg field escaped and redacted");
	ok(json_is_integer(json_object_get(o, "pid")), "pid field");
	ok(json_is_string(json_object_get(o, "ts")), "ts field");
	json_decref(o);
	log_reset();
}

int main(void)
{
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return 1;
	test_redaction();
	test_levels_and_errno();
	test_json();
	return tap_done();
}
