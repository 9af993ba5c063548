/* SPDX-License-Identifier: MIT */
/*
 * Subcommands (tenant-init health, check-config, encrypt-key, sync,
 * restore). Each module that owns one provides its entry function; this
 * table only maps names to them.
 */
#pragma once

struct subcmd {
	const char *name;
	/* argv[0] is the subcommand name. Returns the process exit code. */
	int (*fn)(int argc, char **argv);
};

/* The entry for name, or NULL when name is not a subcommand. */
const struct subcmd *subcmd_find(const char *name);

/* tenant-init check-config: validate env + policy, print it redacted. */
int subcmd_check_config(int argc, char **argv);
