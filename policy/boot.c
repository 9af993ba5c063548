/* SPDX-License-Identifier: MIT */
/*
 * Which sandbox policy applies (DESIGN.md "Command line" and "Sandbox
 * policy"), shared by the run path and check-config so both decide alike.
 *
 *   gateway mode   the file at TENANT_POLICY; with no file at the default
 *                  path, the built-in policy.
 *   tini mode      nothing, as tini would, unless a policy file exists or
 *                  TENANT_GATEWAY_USER is set; then the whole file or
 *                  built-in policy applies.
 *   both           an explicit TENANT_POLICY that does not exist is an
 *                  error (78); TENANT_GATEWAY_USER wins over [gateway]
 *                  user, TENANT_GATEWAY_CMD (and COMMAND) over [gateway]
 *                  command.
 */
#include "policy/policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "init/config.h"

int policy_boot(const struct config *cfg, char *const *envp,
		struct policy_prog **out, char *err, size_t errlen)
{
	struct policy *pol = NULL;
	struct stat sb;
	bool exists;
	int r;

	*out = NULL;
	/* Anything but "no such file" is a file that is there (or should
	 * be): loading it reports the problem. */
	exists = stat(cfg->policy_path, &sb) == 0 || errno != ENOENT;
	if (!exists && cfg->policy_explicit) {
		(void)snprintf(err, errlen, "TENANT_POLICY: '%s': no such file",
			       cfg->policy_path);
		return -EINVAL;
	}
	if (cfg->tini_mode && !exists && !cfg->gateway_user)
		return 0;
	if (exists) {
		r = policy_load_file(cfg->policy_path, &pol, err, errlen);
		if (r < 0)
			return r;
	} else {
		pol = policy_default_new();
		if (!pol) {
			(void)snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	if (cfg->gateway_user && policy_user_override(pol, cfg->gateway_user)) {
		policy_free(pol);
		(void)snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return policy_compile(pol, cfg, envp, out, err, errlen);
}
