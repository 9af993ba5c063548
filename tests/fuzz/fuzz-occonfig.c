/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the openclaw.json merge (supervisor/occonfig.c).
 *
 * The input is the bytes of an existing openclaw.json (a file restored
 * from the tenant's bucket: anything). It is merged with two fixed
 * environments, made by config_load from the variables the seeds' scripts
 * use: A sets every OpenClaw variable and a stored Poe key, B an
 * Anthropic key as TENANT_API_KEY_ENV, dev mode and an open Telegram DM
 * policy. Both go through occonfig_render(); A also goes through
 * occonfig_apply() with the input written as STATE_DIR/openclaw.json in a
 * scratch directory, as PID 1 runs it at boot.
 *
 * Invariants checked:
 *   - the result is a JSON object with the managed keys enforced
 *     (gateway mode, port, bind; no allowInsecureAuth), ending in '\n';
 *   - a second boot changes nothing: rendering the result again gives
 *     the same bytes (occonfig_apply relies on it to leave an up-to-date
 *     file alone);
 *   - no credential field holds a managed secret in plaintext, and the
 *     backup copy holds none in any string;
 *   - apply writes exactly what render returns, and leaves a refused
 *     file byte for byte as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "init/cleanup.h"
#include "init/config.h"
#include "supervisor/occonfig.h"
#include "tests/fuzz/fuzz.h"

#define POE_KEY "pb-decrypted-POE-key-0001"
#define ANT_KEY "sk-ant-anthropic-0001"

static char *env_a[] = {
    (char *)"OPENCLAW_GATEWAY_TOKEN=gateway-token-abcdef-0001",
    (char *)"OPENCLAW_ALLOWED_ORIGINS=https://a.example, https://b.example",
    (char *)"OPENCLAW_TRUSTED_PROXIES=10.0.0.0/8,172.16.0.0/12",
    (char *)"OPENCLAW_DEV_MODE=false",
    (char *)"TELEGRAM_BOT_TOKEN=123456:telegram-token-0001",
    (char *)"TELEGRAM_DM_ALLOW_FROM=111,222",
    (char *)"DISCORD_BOT_TOKEN=discord-token-0001-xyz",
    (char *)"DISCORD_DM_POLICY=allowlist",
    (char *)"SLACK_BOT_TOKEN=xoxb-slack-bot-0001",
    (char *)"SLACK_APP_TOKEN=xapp-slack-app-0001",
    (char *)"ANTHROPIC_API_KEY=" ANT_KEY,
    (char *)"OPENAI_API_KEY=sk-openai-0001-abcdef",
    (char *)"CF_AI_GATEWAY_MODEL=workers-ai/@cf/meta/llama-3.3-70b-instruct",
    (char *)"CLOUDFLARE_AI_GATEWAY_API_KEY=cf-ai-gateway-key-0001",
    (char *)"CF_AI_GATEWAY_ACCOUNT_ID=acct-1",
    (char *)"CF_AI_GATEWAY_GATEWAY_ID=gw-1",
    NULL,
};

static char *env_b[] = {
    (char *)"TENANT_API_KEY_ENV=ANTHROPIC_API_KEY",
    (char *)"TENANT_GATEWAY_PORT=3000",
    (char *)"ANTHROPIC_BASE_URL=https://gateway.example/anthropic",
    (char *)"OPENCLAW_DEV_MODE=true",
    (char *)"TELEGRAM_BOT_TOKEN=123456:telegram-token-0002",
    (char *)"TELEGRAM_DM_POLICY=open",
    NULL,
};

/* One environment: its config, parameters and managed secrets. */
struct setup {
	struct config cfg;
	struct occonfig_params prm;
	const char *secrets[16];
	size_t nsecrets;
};

static struct setup set_a, set_b;

static void load(struct setup *s, char **envp, const char *key_env,
		 const char *key)
{
	char err[CONFIG_ERR_MAX];

	memset(&s->cfg, 0, sizeof(s->cfg));
	if (config_load(&s->cfg, envp, false, err, sizeof(err)) < 0) {
		fprintf(stderr, "config_load: %s\n", err);
		abort();
	}
	s->prm = (struct occonfig_params){
	    .cfg = &s->cfg,
	    .api_key_env = key_env,
	    .api_key_value = key,
	    .uid = (uid_t)-1,
	    .gid = (gid_t)-1,
	};
	s->secrets[s->nsecrets++] = key;
	for (char **e = envp; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (strstr(*e, "TOKEN=") || strstr(*e, "KEY="))
			s->secrets[s->nsecrets++] = eq + 1;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_begin();
	load(&set_a, env_a, "POE_API_KEY", POE_KEY);
	load(&set_b, env_b, "ANTHROPIC_API_KEY", ANT_KEY);
	fuzz_end();
	return 0;
}

static bool is_credential_key(const char *key)
{
	return strcmp(key, "apiKey") == 0 || strcmp(key, "token") == 0 ||
	       strcmp(key, "botToken") == 0 || strcmp(key, "appToken") == 0;
}

/*
 * No string value in the tree holds a managed secret: anywhere (any), or
 * as the whole value of a credential field (the new file may keep an odd
 * plaintext elsewhere, with a warning).
 */
static void check_no_secret(const struct setup *s, json_t *n, bool any,
			    const char *key)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_string(n) && (any || (key && is_credential_key(key)))) {
		for (size_t j = 0; j < s->nsecrets; j++) {
			const char *str = json_string_value(n);
			FUZZ_ASSERT(any ? !strstr(str, s->secrets[j])
					: strcmp(str, s->secrets[j]) != 0);
		}
	} else if (json_is_object(n)) {
		json_object_foreach(n, k, v)
		{
			check_no_secret(s, v, any, k);
		}
	} else if (json_is_array(n)) {
		json_array_foreach(n, i, v)
		{
			check_no_secret(s, v, any, NULL);
		}
	}
}

/* Does an object key anywhere in the tree contain needle? */
static bool key_contains(json_t *n, const char *needle)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(n)) {
		json_object_foreach(n, k, v)
		{
			if (strstr(k, needle) || key_contains(v, needle))
				return true;
		}
	} else if (json_is_array(n)) {
		json_array_foreach(n, i, v)
		{
			if (key_contains(v, needle))
				return true;
		}
	}
	return false;
}

/*
 * The backup copy lands in the synced data directory: no managed secret
 * in any string value, and none anywhere in its text (a shadowed
 * duplicate key, say) unless the file uses it as an object key, which
 * the merge does not treat as a secret.
 */
static void check_backup(const struct setup *s, const char *bak)
{
	json_t *j = json_loads(bak, 0, NULL);

	FUZZ_ASSERT(j);
	check_no_secret(s, j, true, NULL);
	for (size_t i = 0; i < s->nsecrets; i++)
		FUZZ_ASSERT(!strstr(bak, s->secrets[i]) ||
			    key_contains(j, s->secrets[i]));
	json_decref(j);
}

static json_t *at(json_t *root, const char *a, const char *b)
{
	return json_object_get(json_object_get(root, a), b);
}

static void check_rendered(const struct setup *s, const char *out,
			   const char *bak)
{
	const struct occonfig_params *p = &s->prm;
	json_t *j = json_loads(out, 0, NULL);
	json_t *g;
	char *again = NULL, *bak2 = NULL;
	char err[256];

	FUZZ_ASSERT(j && json_is_object(j));
	FUZZ_ASSERT(out[strlen(out) - 1] == '\n');
	g = json_object_get(j, "gateway");
	FUZZ_ASSERT(json_is_string(json_object_get(g, "mode")) &&
		    strcmp(json_string_value(json_object_get(g, "mode")),
			   "local") == 0);
	FUZZ_ASSERT(json_integer_value(json_object_get(g, "port")) ==
		    p->cfg->gateway_port);
	FUZZ_ASSERT(!at(g, "controlUi", "allowInsecureAuth"));
	check_no_secret(s, j, false, NULL);
	json_decref(j);
	check_backup(s, bak);
	/* The next boot: nothing to change. */
	FUZZ_ASSERT(occonfig_render(p, out, strlen(out), &again, &bak2, err,
				    sizeof(err)) == 0);
	FUZZ_ASSERT(strcmp(again, out) == 0);
	free(again);
	free(bak2);
}

/* Render with p; returns the result (NULL when refused). */
static char *render(const struct setup *s, const uint8_t *data, size_t size)
{
	char *out = NULL, *bak = NULL;
	char err[256];
	int r;

	r = occonfig_render(&s->prm, (const char *)data, size, &out, &bak, err,
			    sizeof(err));
	if (r < 0) {
		FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM);
		FUZZ_ASSERT(!out && !bak && err[0]);
		return NULL;
	}
	FUZZ_ASSERT(out && bak);
	check_rendered(s, out, bak);
	free(bak);
	return out;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	FUZZ_ASSERT(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	FUZZ_ASSERT(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = '\0';
	(void)fclose(f);
	return buf;
}

static void apply(const uint8_t *data, size_t size, const char *want)
{
	const char *dir = fuzz_tmpdir();
	char path[256], bakpath[256], err[512];
	char *now;
	FILE *f;
	int r;

	(void)snprintf(path, sizeof(path), "%s/" OCCONFIG_NAME, dir);
	(void)snprintf(bakpath, sizeof(bakpath), "%s/" OCCONFIG_BAK_NAME, dir);
	(void)unlink(bakpath);
	f = fopen(path, "we");
	FUZZ_ASSERT(f && fwrite(data, 1, size, f) == size && fclose(f) == 0);
	r = occonfig_apply(dir, &set_a.prm, false, err, sizeof(err));
	now = read_file(path);
	FUZZ_ASSERT(now);
	if (want) {
		FUZZ_ASSERT(r == 0);
		FUZZ_ASSERT(strcmp(now, want) == 0);
	} else {
		FUZZ_ASSERT(r < 0 && err[0]);
		FUZZ_ASSERT(memcmp(now, data, size) == 0 && !now[size]);
		FUZZ_ASSERT(access(bakpath, F_OK) < 0);
	}
	free(now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out;

	if (size > OCCONFIG_MAX_SIZE)
		return 0;
	fuzz_begin();
	out = render(&set_a, data, size);
	apply(data, size, out);
	free(out);
	free(render(&set_b, data, size));
	fuzz_end();
	return 0;
}
