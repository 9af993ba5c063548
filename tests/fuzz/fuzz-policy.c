/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the sandbox policy parser (policy/parse.c).
 *
 * The input is the policy file's text, handed to policy_parse_string()
 * (the entry policy_load_file() also ends in; inih reads it through the
 * parser's own line reader). A policy that parses is then compiled as PID
 * 1 would before forking the gateway (policy_compile: users and groups
 * through NSS, capability and syscall names, the seccomp filter exported
 * to BPF in memory, [environment] set expanded from a fixed environment)
 * and printed as check-config prints it. Nothing is applied: the
 * pre-exec hook is never called.
 *
 * Invariants checked: a failure has a "NAME:LINE: ..." message; a parsed
 * policy keeps the built-in deny globs and core size 0 unless the file
 * sets it; every [environment] set line and list word carries a line
 * number within the text.
 */
#include <errno.h>
#include <string.h>

#include "init/config.h"
#include "policy/policy.h"
#include "tests/fuzz/fuzz.h"

#define NAME "fuzz.ini"

static char *envp[] = {
    (char *)"PATH=/usr/bin:/bin",
    (char *)"HOME=/root",
    (char *)"SPACED=two words",
    (char *)"EQ=a=b",
    (char *)"TENANT_GATEWAY_PORT=",
    (char *)"R2_SECRET_ACCESS_KEY=x",
    NULL,
};

static unsigned count_lines(const char *s)
{
	unsigned n = 1;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void check_words(const struct policy_words *w, unsigned lines)
{
	for (size_t i = 0; i < w->n; i++) {
		FUZZ_ASSERT(w->v[i].s);
		FUZZ_ASSERT(w->v[i].line <= lines);
	}
}

static void check_parsed(const struct policy *pol, unsigned lines)
{
	char buf[64];

	FUZZ_ASSERT(pol->from_file && strcmp(pol->source, NAME) == 0);
	FUZZ_ASSERT(policy_words_match(&pol->deny, "TENANT_X"));
	FUZZ_ASSERT(policy_words_match(&pol->deny, "R2_SECRET_ACCESS_KEY"));
	FUZZ_ASSERT(pol->limits[POLICY_LIMIT_CORE].set);
	check_words(&pol->groups, lines);
	check_words(&pol->pass, lines);
	check_words(&pol->set, lines);
	check_words(&pol->deny, lines);
	check_words(&pol->keep, lines);
	check_words(&pol->syscalls, lines);
	check_words(&pol->allow, lines);
	(void)policy_where(pol, pol->command_line, buf, sizeof(buf));
	(void)policy_profile_name(pol->profile);
	(void)policy_action_name(pol->action);
}

static void compile(struct policy *pol)
{
	struct config cfg;
	struct policy_prog *prog = NULL;
	char err[POLICY_ERR_MAX];
	uid_t uid;
	gid_t gid;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.gateway_port = 18789;
	cfg.state_dir = (char *)"/data";
	r = policy_compile(pol, &cfg, envp, &prog, err, sizeof(err));
	if (r < 0) {
		FUZZ_ASSERT(err[0]);
		FUZZ_ASSERT(!prog);
		return;
	}
	FUZZ_ASSERT(policy_print(prog, fuzz_devnull()) == 0);
	policy_log_summary(prog);
	(void)policy_env_keep_cb("PATH", prog);
	(void)policy_env_keep_cb("TENANT_POLICY", prog);
	for (char *const *p = policy_env_extra(prog); p && *p; p++)
		FUZZ_ASSERT(strchr(*p, '='));
	(void)policy_command(prog);
	(void)policy_gateway_owner(prog, &uid, &gid);
	(void)policy_wants_loopback(prog);
	policy_prog_free(prog);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	struct policy *pol = NULL;
	char err[POLICY_ERR_MAX];
	int r;

	if (size > POLICY_FILE_MAX)
		return 0;
	fuzz_begin();
	text = fuzz_strndup(data, size);
	r = policy_parse_string(text, NAME, &pol, err, sizeof(err));
	if (r < 0) {
		FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM);
		FUZZ_ASSERT(!pol);
		FUZZ_ASSERT(strncmp(err, NAME ":", strlen(NAME) + 1) == 0 ||
			    r == -ENOMEM);
	} else {
		check_parsed(pol, count_lines(text));
		compile(pol); /* takes pol */
	}
	free(text);
	fuzz_end();
	return 0;
}
