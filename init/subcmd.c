/* SPDX-License-Identifier: MIT */
#include "init/subcmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/config.h"
#include "init/log.h"
#include "policy/policy.h"
#include "supervisor/health.h"
#include "supervisor/keys.h"
#include "supervisor/launch.h"
#include "sync/cmd.h"

static const struct subcmd subcmds[] = {
    {"check-config", subcmd_check_config},
    {"encrypt-key", keys_cmd_encrypt},
    {"health", health_cmd},
    {"sync", sync_cmd_sync},
    {"restore", sync_cmd_restore},
};

const struct subcmd *subcmd_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(subcmds); i++)
		if (strcmp(name, subcmds[i].name) == 0)
			return &subcmds[i];
	return NULL;
}

int subcmd_check_config(int argc, char **argv)
{
	extern char **environ;
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	char path[PATH_MAX];
	struct policy_prog *pol = NULL;
	const char *argv0;
	int r;

	if (argc > 1) {
		log_err("check-config: unexpected argument '%s'", argv[1]);
		return EXIT_CONFIG;
	}
	memset(&cfg, 0, sizeof(cfg));
	r = config_load(&cfg, environ, true, err, sizeof(err));
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
	r = config_print(&cfg, STDOUT_FILENO);
	if (r < 0)
		log_warn_errno(r, "unable to print the configuration");
	if (pol && (r = policy_print(pol, STDOUT_FILENO)) < 0)
		log_warn_errno(r, "unable to print the policy");
	argv0 = pol && policy_command(pol) ? policy_command(pol)[0]
					   : cfg.gateway_argv[0];
	r = launch_resolve(argv0, environ, path, sizeof(path));
	if (r < 0)
		log_warn_errno(r, "gateway command '%s' not found on PATH",
			       argv0);
	policy_prog_free(pol);
	config_fini(&cfg);
	return 0;
}
