/* SPDX-License-Identifier: MIT */
/*
 * What every libFuzzer target shares (docs/HACKING.md "Fuzzing").
 *
 * A target is tests/fuzz/fuzz-NAME.c: it defines LLVMFuzzerTestOneInput
 * (and optionally LLVMFuzzerInitialize), is linked against the fuzz build
 * of libtenant.a, and has its seeds in tests/fuzz/corpus/NAME/ (plus an
 * optional tests/fuzz/NAME.dict). Rules for a target:
 *
 *   - every run starts from the same state: call fuzz_begin() first and
 *     fuzz_end() last, and free everything the run allocated (libFuzzer
 *     reports a leak per input);
 *   - nothing blocks: no stdin, no FIFOs, no network beyond loopback;
 *   - a broken invariant is a crash: FUZZ_ASSERT() aborts with a message,
 *     which libFuzzer records as a finding with the input.
 */
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init/log.h"

/* libFuzzer's entry points (it provides main). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_ASSERT(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* A descriptor on /dev/null for output nobody reads (kept open). */
static inline int fuzz_devnull(void)
{
	static int devnull = -1;

	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	FUZZ_ASSERT(devnull >= 0);
	return devnull;
}

/*
 * Logging on for every level, into /dev/null: the formatting and
 * redaction paths run on every message, and nothing floods the terminal.
 */
static inline void fuzz_begin(void)
{
	log_reset();
	log_set_fd(fuzz_devnull());
	log_set_level(LOG_LEVEL_DEBUG);
}

/* Forget the secrets the run registered and the settings it made. */
static inline void fuzz_end(void)
{
	log_reset();
}

/* The input as a NUL-terminated string (cut at its first NUL). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_ASSERT(s);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static char fuzz_tmpdir_path[64];

static inline int fuzz_rm_cb(const char *path, const struct stat *sb, int type,
			     struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	(void)remove(path);
	return 0;
}

static inline void fuzz_tmpdir_remove(void)
{
	if (fuzz_tmpdir_path[0])
		(void)nftw(fuzz_tmpdir_path, fuzz_rm_cb, 16,
			   FTW_DEPTH | FTW_PHYS);
}

/*
 * A private scratch directory, on tmpfs when there is one (the targets
 * that write files fsync them). Made once per process, removed at exit
 * (a crashing run leaves it behind: it is named tenant-init-fuzz.*).
 */
static inline const char *fuzz_tmpdir(void)
{
	char *dir = fuzz_tmpdir_path;

	if (!dir[0]) {
		const char *base =
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		(void)snprintf(dir, sizeof(fuzz_tmpdir_path),
			       "%s/tenant-init-fuzz.XXXXXX", base);
		FUZZ_ASSERT(mkdtemp(dir));
		FUZZ_ASSERT(atexit(fuzz_tmpdir_remove) == 0);
	}
	return dir;
}
