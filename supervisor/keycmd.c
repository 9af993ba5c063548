/* SPDX-License-Identifier: MIT */
/*
 * tenant-init encrypt-key: the operator's side of the stored-key formats.
 * A setup-time subcommand (it returns an exit code, PID 1 never runs it).
 */
#include "supervisor/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "init/cleanup.h"
#include "init/log.h"

static const char usage[] =
    "Usage: tenant-init encrypt-key [--format v1|poeclaw|pbkdf2]\n"
    "Reads the API key on stdin (one trailing newline is stripped) and\n"
    "prints the encrypted blob. The secret comes from ENCRYPTION_SECRET or\n"
    "ENCRYPTION_SECRET_FILE; pbkdf2 uses TENANT_API_KEY_SALT.\n";

static int parse_format(const char *s, enum key_format *fmt)
{
	if (strcmp(s, "v1") == 0)
		*fmt = KEY_FORMAT_V1;
	else if (strcmp(s, "poeclaw") == 0)
		*fmt = KEY_FORMAT_POECLAW;
	else if (strcmp(s, "pbkdf2") == 0)
		*fmt = KEY_FORMAT_PBKDF2;
	else
		return -EINVAL;
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = TEMP_FAILURE_RETRY(write(fd, p, len));
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read at most cap bytes of stdin into buf; more than that is an error
 * (-EFBIG) rather than a silently truncated key.
 */
static int read_stdin(char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	ssize_t got;

	while ((got = TEMP_FAILURE_RETRY(
		    read(STDIN_FILENO, buf + n, cap + 1 - n))) > 0) {
		n += (size_t)got;
		if (n > cap)
			return -EFBIG;
	}
	if (got < 0)
		return -errno;
	*len = n;
	return 0;
}

int keys_cmd_encrypt(int argc, char **argv)
{
	extern char **environ;
	enum key_format fmt = KEY_FORMAT_V1;
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	/* Room for the key, its newline and one byte to detect "too long". */
	char buf[KEYS_PLAINTEXT_MAX + 2];
	_cleanup_free_ char *blob = NULL;
	enum keys_result kr;
	size_t len = 0;
	int r, code = 0;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;

		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
			v = argv[++i];
		else if (strncmp(argv[i], "--format=", 9) == 0)
			v = argv[i] + 9;
		if (!v) {
			log_err("encrypt-key: unexpected argument '%s' (see "
				"tenant-init encrypt-key --help)",
				argv[i]);
			return EXIT_CONFIG;
		}
		if (parse_format(v, &fmt) < 0) {
			log_err("encrypt-key: --format '%s': expected v1, "
				"poeclaw or pbkdf2",
				v);
			return EXIT_CONFIG;
		}
	}
	/* The plaintext and the secret are about to be in memory. */
	(void)prctl(PR_SET_DUMPABLE, 0);
	memset(&cfg, 0, sizeof(cfg));
	r = config_load(&cfg, environ, true, err, sizeof(err));
	if (r < 0) {
		log_err("configuration: %s", err);
		config_fini(&cfg);
		return r == -ENOMEM ? EXIT_INTERNAL : EXIT_CONFIG;
	}
	if (!cfg.encryption_secret.value) {
		log_err("encrypt-key: set ENCRYPTION_SECRET or "
			"ENCRYPTION_SECRET_FILE");
		config_fini(&cfg);
		return EXIT_CONFIG;
	}
	r = read_stdin(buf, sizeof(buf) - 1, &len);
	if (r < 0) {
		if (r == -EFBIG)
			log_err("encrypt-key: the key on stdin is longer than "
				"%d bytes",
				KEYS_PLAINTEXT_MAX);
		else
			log_err_errno(r, "encrypt-key: unable to read stdin");
		code = EXIT_CONFIG;
		goto out;
	}
	if (len && buf[len - 1] == '\n')
		len--;
	kr = keys_blob_encrypt(buf, len, fmt, &cfg.encryption_secret,
			       cfg.api_key_salt, &blob);
	if (kr != KEYS_OK) {
		log_err("encrypt-key: %s", keys_strerror(kr));
		code = kr == KEYS_ERR_NOMEM || kr == KEYS_ERR_CRYPTO
			   ? EXIT_INTERNAL
			   : EXIT_CONFIG;
		goto out;
	}
	r = write_all(STDOUT_FILENO, blob, strlen(blob));
	if (r == 0)
		r = write_all(STDOUT_FILENO, "\n", 1);
	if (r < 0) {
		log_err_errno(r, "encrypt-key: unable to write the blob");
		code = EXIT_INTERNAL;
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	config_fini(&cfg);
	return code;
}
