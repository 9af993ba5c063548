/* SPDX-License-Identifier: MIT */
/*
 * tenant-init: PID 1 of a per-tenant OpenClaw container.
 *
 * main() only sequences setup: pick the subcommand, parse the command line
 * and the environment (failing fast with 78), then hand over to the PID-1
 * orchestrator. This is a setup file: it may exit; nothing after
 * pid1_run() starts may.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "init/config.h"
#include "init/log.h"
#include "init/pid1.h"
#include "init/subcmd.h"
#include "policy/policy.h"

#ifndef TENANT_INIT_VERSION
#define TENANT_INIT_VERSION "0.0.0-dev"
#endif

static const char usage[] =
    "Usage: tenant-init [OPTIONS] [--] [COMMAND [ARG...]]\n"
    "       tenant-init health [--live] [--url URL]\n"
    "       tenant-init check-config\n"
    "       tenant-init encrypt-key [--format v1|poeclaw|pbkdf2]\n"
    "       tenant-init sync --once | restore\n"
    "       tenant-init --version | --help\n"
    "\n"
    "PID 1 of a per-tenant OpenClaw container: reaps zombies, forwards\n"
    "signals, restores and syncs the data directory, decrypts the API\n"
    "key, writes openclaw.json and supervises the gateway.\n"
    "\n"
    "Without COMMAND the OpenClaw gateway ($TENANT_GATEWAY_CMD) runs in\n"
    "gateway mode. With COMMAND, tenant-init behaves like tini.\n"
    "\n"
    "Options (tini-compatible):\n"
    "  -s         register as a child subreaper (automatic when not PID 1)\n"
    "  -g         send forwarded signals to the child's process group\n"
    "  -e CODE    treat exit code CODE as success (repeatable)\n"
    "  -p SIGNAL  parent-death signal for tenant-init itself\n"
    "  -v         more logging (debug)\n"
    "  -w         warn when zombies cannot be reaped\n"
    "  -h, --help     this text\n"
    "  --version      the version\n"
    "\n"
    "Configuration is read from the environment; see tenant-init(8).\n"
    "Exit codes: the child's (128+N for signal N), 0 clean stop, 75 flush\n"
    "incomplete, 78 configuration error, 70 internal error.\n";

static void setup_logging(const struct config *cfg)
{
	log_set_level(cfg->log_level);
	log_set_format(cfg->log_format);
}

static int run(int argc, char **argv)
{
	extern char **environ;
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	const char *what = NULL;
	struct pid1 *p;
	struct policy_prog *pol = NULL;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	r = config_cli_parse(&cfg.cli, argc, argv, &what, err, sizeof(err));
	if (r < 0) {
		log_err("%s (see tenant-init --help)", err);
		return EXIT_CONFIG;
	}
	if (r > 0) {
		if (strcmp(what, "help") == 0)
			fputs(usage, stdout);
		else if (strcmp(what, "license") == 0)
			puts("MIT License; see the LICENSE file.");
		else
			puts("tenant-init " TENANT_INIT_VERSION);
		return 0;
	}
	/*
	 * Secrets are in memory from here on: no core dumps, and no ptrace or
	 * /proc/1/mem access by anything that is not root with CAP_SYS_PTRACE.
	 */
	(void)prctl(PR_SET_DUMPABLE, 0);
	r = config_load(&cfg, environ, true, err, sizeof(err));
	setup_logging(&cfg);
	if (r < 0) {
		log_err("configuration: %s", err);
		config_fini(&cfg);
		return r == -ENOMEM ? EXIT_INTERNAL : EXIT_CONFIG;
	}
	r = policy_boot(&cfg, environ, &pol, err, sizeof(err));
	if (r < 0) {
		log_err("policy: %s", err);
		config_fini(&cfg);
		return r == -ENOMEM ? EXIT_INTERNAL : EXIT_CONFIG;
	}
	p = pid1_new(&cfg, err, sizeof(err));
	if (!p) {
		log_err("%s", err);
		policy_prog_free(pol);
		config_fini(&cfg);
		return EXIT_INTERNAL;
	}
	pid1_set_policy(p, pol);
	r = pid1_run(p);
	pid1_free(p);
	config_fini(&cfg);
	log_reset();
	return r;
}

int main(int argc, char **argv)
{
	const struct subcmd *sc;

	if (argc > 1 && (sc = subcmd_find(argv[1])) != NULL)
		return sc->fn(argc - 1, argv + 1);
	return run(argc, argv);
}
