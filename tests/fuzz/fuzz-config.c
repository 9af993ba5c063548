/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the configuration parsers of init/config.c.
 *
 * The input is read as lines. Each line, and the value after its first
 * '=', goes through config_duration_parse (with and without "never"),
 * config_words_split, config_listen_parse and config_signal_parse. The
 * lines before a line "--" are then the whole environment of config_load
 * (scrub false: the process environment is never touched), the lines
 * after it the command line of config_cli_parse (a COMMAND there makes it
 * tini mode). ENCRYPTION_SECRET_FILE may only name one of a few files
 * prepared here (a good secret, empty, too large, with a NUL, CRLF), any
 * other value a file that does not exist: a fuzzed path could name a FIFO
 * or a terminal and block the run.
 *
 * Invariants checked: a parsed duration is within the 366-day limit and
 * survives config_duration_format and a second parse unchanged; a split
 * yields at least one word or an error message; a loaded configuration
 * has what the rest of PID 1 relies on (absolute state dir, a gateway
 * command, a listen address, at least one sync path).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "init/cleanup.h"
#include "init/config.h"
#include "tests/fuzz/fuzz.h"

#define MAX_LINES 256

static const char *const secret_files[][2] = {
    {"secret", "fuzz-encryption-secret\n"},
    {"crlf", "fuzz-encryption-secret\r\n"},
    {"empty", ""},
    {"nul", "fuzz\0secret"},
    {"big", NULL}, /* 5000 bytes, over the 4096 limit */
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_tmpdir();

	(void)argc;
	(void)argv;
	for (size_t i = 0; i < ARRAY_SIZE(secret_files); i++) {
		char path[256];
		char big[5000];
		const char *text = secret_files[i][1];
		size_t len = text ? strlen(text) : sizeof(big);
		FILE *f;

		if (strcmp(secret_files[i][0], "nul") == 0)
			len = 11;
		memset(big, 'x', sizeof(big));
		(void)snprintf(path, sizeof(path), "%s/%s", dir,
			       secret_files[i][0]);
		f = fopen(path, "we");
		FUZZ_ASSERT(f);
		FUZZ_ASSERT(fwrite(text ? text : big, 1, len, f) == len);
		FUZZ_ASSERT(fclose(f) == 0);
	}
	return 0;
}

static void check_duration(const char *s)
{
	for (int never = 0; never < 2; never++) {
		const char *why = NULL;
		uint64_t ms = 0, again = 0;
		char buf[64];

		if (config_duration_parse(s, never, &ms, &why) < 0) {
			FUZZ_ASSERT(why && *why);
			continue;
		}
		if (ms == DURATION_NEVER) {
			FUZZ_ASSERT(never);
			continue;
		}
		FUZZ_ASSERT(ms <= 366ull * 24 * 3600 * 1000);
		config_duration_format(ms, buf, sizeof(buf));
		FUZZ_ASSERT(config_duration_parse(buf, false, &again, &why) ==
			    0);
		FUZZ_ASSERT(again == ms);
	}
}

/* A small fixed environment for $NAME expansion; secrets are refused. */
static const char *lookup(const char *name, void *ctx, bool *refuse)
{
	(void)ctx;
	if (config_is_secret_var(name)) {
		*refuse = true;
		return NULL;
	}
	if (strcmp(name, "HOME") == 0)
		return "/home/tenant";
	if (strcmp(name, "SPACED") == 0)
		return "two words";
	if (strcmp(name, "EMPTY") == 0)
		return "";
	return NULL;
}

static void check_split(const char *s)
{
	char err[256];
	char **v = config_words_split(s, lookup, NULL, err, sizeof(err));

	if (!v) {
		FUZZ_ASSERT(err[0]);
		return;
	}
	FUZZ_ASSERT(v[0]);
	config_strv_free(v);
}

static void check_listen(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	const char *why = NULL;

	if (config_listen_parse(s, &ss, &len, &why) < 0) {
		FUZZ_ASSERT(why);
		return;
	}
	FUZZ_ASSERT(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	FUZZ_ASSERT(len > 0 && len <= sizeof(ss));
}

static void check_scalar(const char *s)
{
	check_duration(s);
	check_split(s);
	check_listen(s);
	(void)config_signal_parse(s);
	(void)config_is_secret_var(s);
}

/* ENCRYPTION_SECRET_FILE=NAME -> one of the prepared files. */
static char *secret_file_entry(const char *value)
{
	const char *name = "missing";
	char *e;

	for (size_t i = 0; i < ARRAY_SIZE(secret_files); i++)
		if (strcmp(value, secret_files[i][0]) == 0)
			name = secret_files[i][0];
	FUZZ_ASSERT(asprintf(&e, "ENCRYPTION_SECRET_FILE=%s/%s", fuzz_tmpdir(),
			     name) > 0);
	return e;
}

static void check_load(char **envp, int argc, char **argv)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	const char *what = NULL;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	r = config_cli_parse(&cfg.cli, argc, argv, &what, err, sizeof(err));
	if (r < 0)
		FUZZ_ASSERT(err[0]);
	if (r != 0)
		memset(&cfg.cli, 0, sizeof(cfg.cli));
	r = config_load(&cfg, envp, false, err, sizeof(err));
	if (r == 0) {
		FUZZ_ASSERT(cfg.state_dir && cfg.state_dir[0] == '/');
		FUZZ_ASSERT(cfg.gateway_argv && cfg.gateway_argv[0]);
		FUZZ_ASSERT(cfg.health_addrlen > 0);
		FUZZ_ASSERT(cfg.sync.npaths > 0 && cfg.sync.excludes);
		FUZZ_ASSERT(cfg.api_key_env && cfg.api_key_salt);
		FUZZ_ASSERT(config_print(&cfg, fuzz_devnull()) == 0);
	} else {
		FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM);
		FUZZ_ASSERT(err[0]);
	}
	config_fini(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	char *envp[MAX_LINES + 1];
	char *argv[MAX_LINES + 2];
	char *owned[MAX_LINES];
	size_t nenv = 0, nowned = 0;
	int argc = 1;
	bool in_argv = false;
	char *save = NULL;

	fuzz_begin();
	argv[0] = (char *)"tenant-init";
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		check_scalar(line);
		if (eq)
			check_scalar(eq + 1);
		if (!in_argv && strcmp(line, "--") == 0) {
			in_argv = true;
			continue;
		}
		if (in_argv) {
			if (argc <= MAX_LINES)
				argv[argc++] = line;
			continue;
		}
		if (nenv >= MAX_LINES)
			continue;
		if (eq && strncmp(line, "ENCRYPTION_SECRET_FILE=", 23) == 0)
			line = owned[nowned++] = secret_file_entry(eq + 1);
		envp[nenv++] = line;
	}
	envp[nenv] = NULL;
	argv[argc] = NULL;
	check_load(envp, argc, argv);
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(text);
	fuzz_end();
	return 0;
}
