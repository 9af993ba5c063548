/* SPDX-License-Identifier: MIT */
/*
 * openclaw.json rendering and writing: first boot from the environment,
 * the merge into an existing (legacy) file, the keys OpenClaw rejects,
 * plaintext secrets, malformed files, and the atomic write.
 */
#include "supervisor/occonfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "tests/tap.h"

#define POE_KEY	 "pb-decrypted-POE-key-0001"
#define GW_TOKEN "gateway-token-abcdef-0001"
#define TG_TOKEN "123456:telegram-token-0001"
#define DC_TOKEN "discord-token-0001-xyz"
#define SB_TOKEN "xoxb-slack-bot-0001"
#define SA_TOKEN "xapp-slack-app-0001"
#define AN_KEY	 "sk-ant-anthropic-0001"
#define CF_KEY	 "cf-ai-gateway-key-0001"
#define OA_KEY	 "sk-openai-key-0001"

static const char *const all_secrets[] = {POE_KEY,  GW_TOKEN, TG_TOKEN,
					  DC_TOKEN, SB_TOKEN, SA_TOKEN,
					  AN_KEY,   CF_KEY,   OA_KEY};

static struct config cfg;

static void reset(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.gateway_port = 18789;
	cfg.api_key_env = (char *)"POE_API_KEY";
}

static struct occonfig_params params(bool with_key)
{
	return (struct occonfig_params){
	    .cfg = &cfg,
	    .api_key_env = with_key ? "POE_API_KEY" : NULL,
	    .api_key_value = with_key ? POE_KEY : NULL,
	    .uid = (uid_t)-1,
	    .gid = (gid_t)-1,
	};
}

/* Render and parse; *text keeps the raw output (free it). */
static json_t *render(const struct occonfig_params *p, const char *existing,
		      char **text, char **bak, int *rc)
{
	char err[256];
	char *out = NULL;
	json_t *j;

	*rc = occonfig_render(p, existing, existing ? strlen(existing) : 0,
			      &out, bak, err, sizeof(err));
	if (*rc < 0) {
		diag("render: %s", err);
		return NULL;
	}
	j = json_loads(out, 0, NULL);
	if (text)
		*text = out;
	else
		free(out);
	return j;
}

/* The value at a dotted path (array indexes as numbers), or NULL. */
static json_t *at(json_t *j, const char *path)
{
	char buf[256];
	char *save = NULL;

	(void)snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t && j;
	     t = strtok_r(NULL, ".", &save)) {
		if (json_is_array(j))
			j = json_array_get(j, strtoul(t, NULL, 10));
		else
			j = json_object_get(j, t);
	}
	return j;
}

static const char *str_at(json_t *j, const char *path)
{
	return json_string_value(at(j, path));
}

static bool is_ref(json_t *j, const char *path, const char *name)
{
	json_t *r = at(j, path);

	return json_is_object(r) && json_object_size(r) == 3 &&
	       str_at(r, "source") && strcmp(str_at(r, "source"), "env") == 0 &&
	       str_at(r, "provider") &&
	       strcmp(str_at(r, "provider"), "default") == 0 &&
	       str_at(r, "id") && strcmp(str_at(r, "id"), name) == 0;
}

static bool no_secret_in(const char *text)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_secrets); i++)
		if (text && strstr(text, all_secrets[i]))
			return false;
	return true;
}

static void set_all_env(void)
{
	struct openclaw_env *o = &cfg.openclaw;

	o->gateway_token = (char *)GW_TOKEN;
	o->telegram_bot_token = (char *)TG_TOKEN;
	o->discord_bot_token = (char *)DC_TOKEN;
	o->slack_bot_token = (char *)SB_TOKEN;
	o->slack_app_token = (char *)SA_TOKEN;
	o->anthropic_api_key = (char *)AN_KEY;
	o->cloudflare_ai_gateway_api_key = (char *)CF_KEY;
}

static void test_first_boot_minimal(void)
{
	struct occonfig_params p;
	char *text = NULL;
	json_t *j;
	int rc;

	reset();
	p = params(false);
	j = render(&p, NULL, &text, NULL, &rc);
	is_int(rc, 0, "minimal: rendered");
	is_str(str_at(j, "gateway.mode"), "local", "gateway.mode local");
	is_str(str_at(j, "gateway.bind"), "lan", "gateway.bind lan");
	is_int(json_integer_value(at(j, "gateway.port")), 18789,
	       "gateway.port");
	ok(!at(j, "gateway.auth"), "no token: auth untouched");
	ok(!at(j, "models"), "no key: no provider");
	ok(!at(j, "gateway.http"), "no key: chat completions not enabled");
	ok(text && text[strlen(text) - 1] == '\n', "ends with a newline");
	json_decref(j);
	free(text);
}

static void test_first_boot_poe(void)
{
	struct occonfig_params p;
	char *text = NULL;
	json_t *j;
	int rc;

	reset();
	cfg.gateway_port = 3000;
	cfg.openclaw.gateway_token = (char *)GW_TOKEN;
	cfg.openclaw.trusted_proxies = (char *)"10.0.0.0/8, 172.16.0.0/12";
	cfg.openclaw.allowed_origins = (char *)"https://a.example,https://b.x";
	p = params(true);
	j = render(&p, NULL, &text, NULL, &rc);
	is_int(rc, 0, "poe: rendered");
	is_int(json_integer_value(at(j, "gateway.port")), 3000, "port");
	is_str(str_at(j, "gateway.auth.mode"), "token", "token auth");
	ok(is_ref(j, "gateway.auth.token", "OPENCLAW_GATEWAY_TOKEN"),
	   "token is a SecretRef");
	is_str(str_at(j, "gateway.trustedProxies.1"), "172.16.0.0/12",
	       "trusted proxies split");
	is_int(json_array_size(at(j, "gateway.trustedProxies")), 2,
	       "two proxies");
	is_str(str_at(j, "gateway.controlUi.allowedOrigins.0"),
	       "https://a.example", "allowed origins");
	ok(json_is_true(
	       at(j, "gateway.http.endpoints.chatCompletions.enabled")),
	   "chat completions enabled");
	is_str(str_at(j, "models.providers.poe.baseUrl"),
	       "https://api.poe.com/v1", "poe base URL");
	is_str(str_at(j, "models.providers.poe.api"), "openai-completions",
	       "poe api");
	ok(is_ref(j, "models.providers.poe.apiKey", "POE_API_KEY"),
	   "poe key is a SecretRef");
	is_int(json_array_size(at(j, "models.providers.poe.models")), 3,
	       "poe models");
	is_str(str_at(j, "agents.defaults.model.primary"),
	       "poe/Claude-Sonnet-4.5", "poe default model");
	ok(!at(j, "gateway.controlUi.dangerouslyDisableDeviceAuth"),
	   "dev mode unset: device auth untouched");
	ok(no_secret_in(text), "no secret value in the file");
	json_decref(j);
	free(text);
}

static void test_first_boot_everything(void)
{
	struct occonfig_params p;
	char *text = NULL;
	json_t *j;
	int rc;

	reset();
	set_all_env();
	cfg.openclaw.dev_mode = true;
	cfg.openclaw.dev_mode_set = true;
	cfg.openclaw.telegram_dm_policy = (char *)"allowlist";
	cfg.openclaw.telegram_dm_allow_from = (char *)"111, 222";
	cfg.openclaw.discord_dm_policy = (char *)"open";
	cfg.openclaw.anthropic_base_url = (char *)"https://proxy.example/an";
	cfg.openclaw.cf_ai_gateway_model =
	    (char *)"workers-ai/@cf/meta/llama-3.3-70b-instruct-fp8-fast";
	cfg.openclaw.cf_ai_gateway_account_id = (char *)"acct";
	cfg.openclaw.cf_ai_gateway_gateway_id = (char *)"gw1";
	p = params(true);
	j = render(&p, NULL, &text, NULL, &rc);
	is_int(rc, 0, "everything: rendered");
	ok(json_is_true(
	       at(j, "gateway.controlUi.dangerouslyDisableDeviceAuth")),
	   "dev mode: device auth disabled");
	ok(!at(j, "gateway.controlUi.allowInsecureAuth"),
	   "never allowInsecureAuth");
	ok(is_ref(j, "channels.telegram.botToken", "TELEGRAM_BOT_TOKEN"),
	   "telegram token ref");
	ok(json_is_true(at(j, "channels.telegram.enabled")), "telegram on");
	is_str(str_at(j, "channels.telegram.dmPolicy"), "allowlist",
	       "telegram policy");
	is_str(str_at(j, "channels.telegram.allowFrom.1"), "222",
	       "telegram allowFrom");
	ok(is_ref(j, "channels.discord.token", "DISCORD_BOT_TOKEN"),
	   "discord token ref");
	is_str(str_at(j, "channels.discord.dmPolicy"), "open",
	       "discord policy at the top level");
	is_str(str_at(j, "channels.discord.allowFrom.0"), "*",
	       "open policy gets allowFrom *");
	ok(!at(j, "channels.discord.dm"), "no legacy dm object");
	ok(is_ref(j, "channels.slack.botToken", "SLACK_BOT_TOKEN") &&
	       is_ref(j, "channels.slack.appToken", "SLACK_APP_TOKEN"),
	   "slack tokens refs");
	ok(is_ref(j, "models.providers.anthropic.apiKey", "ANTHROPIC_API_KEY"),
	   "anthropic key ref");
	is_str(str_at(j, "models.providers.anthropic.baseUrl"),
	       "https://proxy.example/an", "anthropic base URL");
	is_str(str_at(j, "models.providers.cf-ai-gw-workers-ai.baseUrl"),
	       "https://gateway.ai.cloudflare.com/v1/acct/gw1/workers-ai/v1",
	       "AI Gateway URL (workers-ai gets /v1)");
	ok(is_ref(j, "models.providers.cf-ai-gw-workers-ai.apiKey",
		  "CLOUDFLARE_AI_GATEWAY_API_KEY"),
	   "AI Gateway key ref");
	is_str(str_at(j, "models.providers.cf-ai-gw-workers-ai.models.0.id"),
	       "@cf/meta/llama-3.3-70b-instruct-fp8-fast", "AI Gateway model");
	is_str(str_at(j, "agents.defaults.model.primary"),
	       "cf-ai-gw-workers-ai/@cf/meta/llama-3.3-70b-instruct-fp8-fast",
	       "AI Gateway model is the primary one");
	ok(no_secret_in(text), "no secret value in the file");
	json_decref(j);
	free(text);

	/* anthropic through the AI Gateway uses the messages API */
	cfg.openclaw.cf_ai_gateway_model = (char *)"anthropic/claude-x";
	j = render(&p, NULL, NULL, NULL, &rc);
	is_str(str_at(j, "models.providers.cf-ai-gw-anthropic.api"),
	       "anthropic-messages", "AI Gateway anthropic api");
	is_str(str_at(j, "models.providers.cf-ai-gw-anthropic.baseUrl"),
	       "https://gateway.ai.cloudflare.com/v1/acct/gw1/anthropic",
	       "no /v1 for other providers");
	json_decref(j);
}

static void test_openai(void)
{
	struct occonfig_params p;
	char *text = NULL;
	json_t *j;
	int rc;

	reset();
	cfg.openclaw.openai_api_key = (char *)OA_KEY;
	p = params(false);
	j = render(&p, NULL, &text, NULL, &rc);
	ok(is_ref(j, "models.providers.openai.apiKey", "OPENAI_API_KEY"),
	   "openai only: key ref");
	ok(!at(j, "models.providers.poe") &&
	       !at(j, "models.providers.anthropic"),
	   "openai only: no other provider");
	ok(!at(j, "agents.defaults.model.primary"),
	   "openai only: OpenClaw's own (OpenAI) default model");
	ok(text && no_secret_in(text), "no secret value in the file");
	json_decref(j);
	free(text);

	/* Beside a stored Poe key: both providers, Poe's model the default. */
	reset();
	cfg.openclaw.openai_api_key = (char *)OA_KEY;
	p = params(true);
	j = render(&p, NULL, NULL, NULL, &rc);
	ok(is_ref(j, "models.providers.openai.apiKey", "OPENAI_API_KEY") &&
	       is_ref(j, "models.providers.poe.apiKey", "POE_API_KEY"),
	   "openai beside poe: both keys as refs");
	json_decref(j);

	/* The stored key routed to OPENAI_API_KEY is OpenAI's. */
	reset();
	p = params(true);
	p.api_key_env = "OPENAI_API_KEY";
	j = render(&p, NULL, NULL, NULL, &rc);
	ok(is_ref(j, "models.providers.openai.apiKey", "OPENAI_API_KEY"),
	   "stored key as OPENAI_API_KEY: openai provider");
	ok(!at(j, "models.providers.poe"), "and no poe provider");
	json_decref(j);
}

static void test_anthropic_only(void)
{
	struct occonfig_params p;
	json_t *j;
	int rc;

	reset();
	cfg.openclaw.anthropic_api_key = (char *)AN_KEY;
	p = params(false);
	j = render(&p, NULL, NULL, NULL, &rc);
	ok(is_ref(j, "models.providers.anthropic.apiKey", "ANTHROPIC_API_KEY"),
	   "anthropic only: key ref");
	ok(!at(j, "models.providers.anthropic.baseUrl"),
	   "no base URL unless given");
	is_str(str_at(j, "agents.defaults.model.primary"),
	       "anthropic/claude-opus-5", "anthropic default model");
	ok(!at(j, "models.providers.poe"), "no poe without a key");
	json_decref(j);

	/* The stored key routed to ANTHROPIC_API_KEY is Anthropic's. */
	reset();
	p = params(true);
	p.api_key_env = "ANTHROPIC_API_KEY";
	j = render(&p, NULL, NULL, NULL, &rc);
	ok(is_ref(j, "models.providers.anthropic.apiKey", "ANTHROPIC_API_KEY"),
	   "stored key as ANTHROPIC_API_KEY: anthropic provider");
	ok(!at(j, "models.providers.poe"), "and no poe provider");
	json_decref(j);
}

/* What the seeds' scripts left in R2: PoeClaw's patch, plaintext inside. */
static const char legacy[] =
    "{\n"
    "  \"gateway\": {\n"
    "    \"port\": 18789, \"mode\": \"local\",\n"
    "    \"trustedProxies\": [\"10.1.0.0\"],\n"
    "    \"auth\": {\"token\": \"" GW_TOKEN "\"},\n"
    "    \"controlUi\": {\"allowInsecureAuth\": true,\n"
    "                  \"dangerouslyDisableDeviceAuth\": true},\n"
    "    \"http\": {\"endpoints\": {\"chatCompletions\": {\"enabled\": "
    "true}}}\n"
    "  },\n"
    "  \"channels\": {\n"
    "    \"telegram\": {\"botToken\": \"" TG_TOKEN "\", \"enabled\": true,\n"
    "                 \"dmPolicy\": \"pairing\", \"groups\": {\"-100\": "
    "{}}},\n"
    "    \"discord\": {\"token\": \"" DC_TOKEN "\", \"enabled\": true,\n"
    "                \"dm\": {\"policy\": \"open\", \"allowFrom\": "
    "[\"*\"]}}\n"
    "  },\n"
    "  \"models\": {\"providers\": {\n"
    "    \"poe\": {\"baseUrl\": \"https://api.poe.com/v1\", \"apiKey\": "
    "\"" POE_KEY "\",\n"
    "             \"api\": \"openai-completions\", \"models\": [{\"id\": "
    "\"Mine\", \"name\": \"Mine\"}]},\n"
    "    \"cf-ai-gw-openai\": {\"baseUrl\": \"https://x\", \"apiKey\": "
    "\"" CF_KEY "\",\n"
    "             \"api\": \"openai-completions\", \"models\": [{\"id\": "
    "\"m\", \"name\": \"m\"}]}\n"
    "  }},\n"
    "  \"agents\": {\"defaults\": {\"model\": {\"primary\": \"poe/GPT-5.2\", "
    "\"fallbacks\": [\"poe/Mine\"]}}},\n"
    "  \"tools\": {\"deny\": [\"browser\"]},\n"
    "  \"ui\": {\"assistant\": {\"name\": \"Kyra\"}}\n"
    "}\n";

static void test_legacy_merge(void)
{
	struct occonfig_params p;
	char *text = NULL, *bak = NULL, *text2 = NULL, *bak2 = NULL;
	json_t *j, *j2;
	int rc;

	reset();
	cfg.openclaw.gateway_token = (char *)GW_TOKEN;
	cfg.openclaw.telegram_bot_token = (char *)TG_TOKEN;
	cfg.openclaw.cloudflare_ai_gateway_api_key = (char *)CF_KEY;
	p = params(true);
	j = render(&p, legacy, &text, &bak, &rc);
	is_int(rc, 0, "legacy: rendered");
	ok(!at(j, "gateway.controlUi.allowInsecureAuth"),
	   "allowInsecureAuth dropped");
	ok(json_is_true(
	       at(j, "gateway.controlUi.dangerouslyDisableDeviceAuth")),
	   "dev mode unset: the user's device-auth setting kept");
	ok(is_ref(j, "gateway.auth.token", "OPENCLAW_GATEWAY_TOKEN"),
	   "plaintext gateway token -> SecretRef");
	is_str(str_at(j, "gateway.bind"), "lan", "bind enforced");
	is_str(str_at(j, "gateway.trustedProxies.0"), "10.1.0.0",
	       "trusted proxies kept when not in the environment");
	ok(is_ref(j, "channels.telegram.botToken", "TELEGRAM_BOT_TOKEN"),
	   "telegram token -> SecretRef");
	ok(json_is_object(at(j, "channels.telegram.groups.-100")),
	   "the user's telegram groups kept");
	is_str(str_at(j, "channels.discord.dmPolicy"), "open",
	       "discord dm.policy migrated to dmPolicy");
	is_str(str_at(j, "channels.discord.allowFrom.0"), "*",
	       "discord dm.allowFrom migrated");
	ok(!at(j, "channels.discord.dm"), "emptied dm removed");
	is_str(str_at(j, "channels.discord.token"), DC_TOKEN,
	       "discord token not managed (no env): left as the user set it");
	ok(is_ref(j, "models.providers.poe.apiKey", "POE_API_KEY"),
	   "poe key -> SecretRef");
	is_str(str_at(j, "models.providers.poe.models.0.id"), "Mine",
	       "the user's poe model list kept");
	ok(is_ref(j, "models.providers.cf-ai-gw-openai.apiKey",
		  "CLOUDFLARE_AI_GATEWAY_API_KEY"),
	   "legacy AI Gateway key -> SecretRef");
	is_str(str_at(j, "agents.defaults.model.primary"), "poe/GPT-5.2",
	       "the user's model choice kept");
	is_str(str_at(j, "agents.defaults.model.fallbacks.0"), "poe/Mine",
	       "and fallbacks");
	is_str(str_at(j, "tools.deny.0"), "browser", "user setting kept");
	is_str(str_at(j, "ui.assistant.name"), "Kyra", "user setting kept");
	ok(strstr(text, TG_TOKEN) == NULL && strstr(text, GW_TOKEN) == NULL &&
	       strstr(text, POE_KEY) == NULL && strstr(text, CF_KEY) == NULL,
	   "no managed secret left in the new file");
	ok(bak && strstr(bak, "allowInsecureAuth") != NULL,
	   ".bak holds the previous settings");
	ok(bak && !strstr(bak, TG_TOKEN) && !strstr(bak, GW_TOKEN) &&
	       !strstr(bak, POE_KEY) && !strstr(bak, CF_KEY),
	   ".bak has the managed secrets redacted");
	ok(bak && strstr(bak, DC_TOKEN), ".bak keeps what tenant-init does "
					 "not manage");
	ok(bak && strstr(bak, "[REDACTED by tenant-init]") != NULL,
	   ".bak marks the redactions");

	/*
	 * Found by fuzz-occonfig: a repeated key hides its first value from
	 * the scrub (the last one wins), and the verbatim backup kept it: a
	 * managed secret there reached the synced .bak in plaintext.
	 */
	{
		static const char dup[] =
		    "{\"gateway\": {\"auth\": {\"token\": "
		    "\"" GW_TOKEN "\", \"token\": \"x\"}}}";
		char *t = NULL, *b = NULL;
		json_t *jd = render(&p, dup, &t, &b, &rc);

		is_int(rc, 0, "repeated key: rendered");
		ok(b && !strstr(b, GW_TOKEN),
		   "repeated key: the hidden secret is not in the backup");
		ok(t && !strstr(t, GW_TOKEN), "... nor in the new file");
		json_decref(jd);
		free(t);
		free(b);
	}

	/* A second boot changes nothing. */
	j2 = render(&p, text, &text2, &bak2, &rc);
	ok(rc == 0 && text2 && strcmp(text, text2) == 0, "idempotent");
	ok(bak2 && strcmp(bak2, text) == 0,
	   "backup of a clean file is verbatim");
	json_decref(j);
	json_decref(j2);
	free(text);
	free(text2);
	free(bak);
	free(bak2);
}

static void test_user_choices(void)
{
	struct occonfig_params p;
	json_t *j;
	int rc;

	reset();
	p = params(true);
	/* a string model is the user's choice too */
	j = render(&p, "{\"agents\":{\"defaults\":{\"model\":\"x/y\"}}}", NULL,
		   NULL, &rc);
	is_str(str_at(j, "agents.defaults.model"), "x/y", "string model kept");
	json_decref(j);
	/* ... but CF_AI_GATEWAY_MODEL names the model: enforced */
	cfg.openclaw.cf_ai_gateway_model = (char *)"openai/gpt-4o";
	cfg.openclaw.cloudflare_ai_gateway_api_key = (char *)CF_KEY;
	cfg.openclaw.cf_ai_gateway_account_id = (char *)"a";
	cfg.openclaw.cf_ai_gateway_gateway_id = (char *)"g";
	j = render(&p, "{\"agents\":{\"defaults\":{\"model\":\"x/y\"}}}", NULL,
		   NULL, &rc);
	is_str(str_at(j, "agents.defaults.model.primary"),
	       "cf-ai-gw-openai/gpt-4o", "CF_AI_GATEWAY_MODEL enforced");
	json_decref(j);
	/* explicit dev mode false removes the device-auth bypass */
	reset();
	cfg.openclaw.dev_mode_set = true;
	j = render(&p,
		   "{\"gateway\":{\"controlUi\":{"
		   "\"dangerouslyDisableDeviceAuth\":true,\"basePath\":\"/"
		   "ui\"}}}",
		   NULL, NULL, &rc);
	ok(!at(j, "gateway.controlUi.dangerouslyDisableDeviceAuth"),
	   "OPENCLAW_DEV_MODE=false removes the bypass");
	is_str(str_at(j, "gateway.controlUi.basePath"), "/ui",
	       "other controlUi settings kept");
	json_decref(j);
	/* telegram policy defaults only where none is set */
	reset();
	cfg.openclaw.telegram_bot_token = (char *)TG_TOKEN;
	j = render(&p,
		   "{\"channels\":{\"telegram\":{\"dmPolicy\":\"disabled\"}}}",
		   NULL, NULL, &rc);
	is_str(str_at(j, "channels.telegram.dmPolicy"), "disabled",
	       "user's DM policy kept when the env names none");
	json_decref(j);
	cfg.openclaw.telegram_dm_policy = (char *)"pairing";
	j = render(&p,
		   "{\"channels\":{\"telegram\":{\"dmPolicy\":\"disabled\"}}}",
		   NULL, NULL, &rc);
	is_str(str_at(j, "channels.telegram.dmPolicy"), "pairing",
	       "TELEGRAM_DM_POLICY enforced");
	json_decref(j);
	/* a plaintext secret outside credential fields is kept, not lost */
	reset();
	cfg.openclaw.gateway_token = (char *)GW_TOKEN;
	j = render(&p, "{\"hooks\":{\"note\":\"token " GW_TOKEN "\"}}", NULL,
		   NULL, &rc);
	is_str(str_at(j, "hooks.note"), "token " GW_TOKEN,
	       "odd plaintext kept as the user wrote it (warned)");
	json_decref(j);
}

static void test_numbers(void)
{
	struct occonfig_params p;
	char *text = NULL;
	json_t *j;
	int rc;

	reset();
	p = params(false);
	j = render(&p, "{\"ui\": {\"t\": 0.7, \"w\": [0.3, 2.5, 1e300]}}",
		   &text, NULL, &rc);
	ok(text && strstr(text, "0.7") && !strstr(text, "0.6999") &&
	       strstr(text, "0.3") && !strstr(text, "0.2999"),
	   "user reals printed as written");
	ok(json_real_value(at(j, "ui.w.2")) == 1e300, "1e300 exact");
	json_decref(j);
	free(text);
	j = render(&p, "{\"ui\": {\"t\": 0.30000000000000004}}", &text, NULL,
		   &rc);
	ok(json_real_value(at(j, "ui.t")) == 0.1 + 0.2,
	   "a 17-digit real survives exactly");
	json_decref(j);
	free(text);
}

static void test_malformed(void)
{
	struct occonfig_params p;
	char err[256];
	char *out = NULL, *bak = NULL;
	static const char *const bad[] = {
	    "{\"gateway\": {\"mode\": \"local\",}}",
	    "{\n // a comment\n gateway: {}\n}",
	    "[1, 2]",
	    "\"string\"",
	    "",
	    "{\"a\": 1} trailing",
	    "{\"a\": 123456789012345678901234}",
	};

	reset();
	p = params(true);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int rc = occonfig_render(&p, bad[i], strlen(bad[i]), &out, &bak,
					 err, sizeof(err));
		is_int(rc, -EINVAL, "malformed %zu refused", i);
		ok(out == NULL && bak == NULL, "nothing rendered");
		ok(strchr(err, ':') != NULL, "message has line:column (%s)",
		   err);
	}
	/*
	 * Found by fuzz-occonfig: jansson accepts a NUL byte after a number
	 * or a literal, and the backup copy, made with strndup, then ended
	 * at that byte: a truncated openclaw.json.bak replaced the user's
	 * file. Strict JSON has no raw NUL anywhere: refused, untouched.
	 */
	{
		static const char nul[] = "{\"a\": 1,\n \"b\": true\0}\n";
		int rc = occonfig_render(&p, nul, sizeof(nul) - 1, &out, &bak,
					 err, sizeof(err));
		is_int(rc, -EINVAL, "a NUL byte is refused");
		ok(out == NULL && bak == NULL, "nothing rendered");
		ok(strncmp(err, "2:11:", 5) == 0, "at its line:column (%s)",
		   err);
		free(out);
		free(bak);
	}
}

static char tmp[] = "/tmp/test-occonfig.XXXXXX";

static char *slurp(const char *name)
{
	char path[512];
	FILE *f;
	char *buf = calloc(1, 1 << 16);

	(void)snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "r");
	if (!f) {
		free(buf);
		return NULL;
	}
	if (fread(buf, 1, (1 << 16) - 1, f) == 0 && ferror(f))
		diag("unable to read %s", path);
	fclose(f);
	return buf;
}

static void spit(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static bool only_expected_files(void)
{
	char cmd[600];

	/* No temp file may be left behind. */
	(void)snprintf(cmd, sizeof(cmd),
		       "test -z \"$(find '%s' -name '*.tmp')\"", tmp);
	return system(cmd) == 0;
}

static void test_apply(void)
{
	struct occonfig_params p;
	char err[512], path[512];
	struct stat st1, st2;
	char *a, *b;
	int rc;

	reset();
	cfg.openclaw.gateway_token = (char *)GW_TOKEN;
	p = params(true);
	(void)snprintf(path, sizeof(path), "%s/sub/dir", tmp);
	rc = occonfig_apply(path, &p, false, err, sizeof(err));
	ok(rc < 0, "missing directory without create_dir fails");
	rc = occonfig_apply(path, &p, true, err, sizeof(err));
	is_int(rc, 0, "created the directory and wrote");

	rc = occonfig_apply(tmp, &p, false, err, sizeof(err));
	is_int(rc, 0, "first boot write");
	(void)snprintf(path, sizeof(path), "%s/openclaw.json", tmp);
	ok(stat(path, &st1) == 0 && (st1.st_mode & 0777) == 0600, "mode 0600");
	a = slurp("openclaw.json.bak");
	ok(a == NULL, "no .bak on first boot");
	free(a);
	ok(only_expected_files(), "no temp file left");

	/* unchanged: not rewritten, mode enforced */
	(void)chmod(path, 0644);
	rc = occonfig_apply(tmp, &p, false, err, sizeof(err));
	is_int(rc, 0, "second boot");
	ok(stat(path, &st2) == 0 && st2.st_ino == st1.st_ino,
	   "unchanged file not rewritten");
	ok((st2.st_mode & 0777) == 0600, "mode re-enforced");

	/* legacy file: patched, .bak written */
	spit("openclaw.json", legacy);
	rc = occonfig_apply(tmp, &p, false, err, sizeof(err));
	is_int(rc, 0, "legacy file patched");
	a = slurp("openclaw.json");
	b = slurp("openclaw.json.bak");
	ok(a && !strstr(a, "allowInsecureAuth"), "patched file is clean");
	ok(b && strstr(b, "allowInsecureAuth") && !strstr(b, GW_TOKEN),
	   ".bak: old settings, secrets redacted");
	(void)snprintf(path, sizeof(path), "%s/openclaw.json.bak", tmp);
	ok(stat(path, &st2) == 0 && (st2.st_mode & 0777) == 0600,
	   ".bak mode 0600");
	free(a);
	free(b);

	/* malformed: untouched, refused */
	spit("openclaw.json", "{ \"gateway\": ");
	spit("openclaw.json.bak", "previous-bak");
	rc = occonfig_apply(tmp, &p, false, err, sizeof(err));
	is_int(rc, -EINVAL, "malformed refused");
	diag("%s", err);
	ok(strstr(err, "openclaw.json:1:") && strstr(err, "untouched"),
	   "message names file, line, and that it was left alone");
	a = slurp("openclaw.json");
	b = slurp("openclaw.json.bak");
	ok(a && strcmp(a, "{ \"gateway\": ") == 0, "malformed file untouched");
	ok(b && strcmp(b, "previous-bak") == 0, ".bak untouched too");
	free(a);
	free(b);
	{
		/* PID 1's recovery: set aside, then write afresh. */
		char aside[64], copy[128];
		is_int(occonfig_set_aside(tmp, aside, sizeof(aside)), 0,
		       "set aside");
		ok(strncmp(aside, "openclaw.json.invalid-", 22) == 0,
		   "named openclaw.json.invalid-TIME (%s)", aside);
		a = slurp(aside);
		ok(a && strcmp(a, "{ \"gateway\": ") == 0,
		   "the malformed file is kept, byte for byte");
		free(a);
		rc = occonfig_apply(tmp, &p, false, err, sizeof(err));
		is_int(rc, 0, "and a new one written");
		(void)snprintf(copy, sizeof(copy), "%s/%s", tmp, aside);
		(void)unlink(copy);
		(void)snprintf(copy, sizeof(copy), "%s/openclaw.json", tmp);
		(void)unlink(copy);
		ok(mkdir(copy, 0700) == 0, "a directory named openclaw.json");
		rc = occonfig_apply(tmp, &p, false, err, sizeof(err));
		is_int(rc, -EINVAL, "a directory is refused");
		ok(occonfig_set_aside(tmp, aside, sizeof(aside)) == 0 &&
		       occonfig_apply(tmp, &p, false, err, sizeof(err)) == 0,
		   "and set aside as well");
		(void)snprintf(copy, sizeof(copy), "%s/%s", tmp, aside);
		(void)rmdir(copy);
	}

	/* symlink and FIFO refused */
	(void)snprintf(path, sizeof(path), "%s/openclaw.json", tmp);
	(void)unlink(path);
	ok(symlink("/etc/hostname", path) == 0, "planted a symlink");
	rc = occonfig_apply(tmp, &p, false, err, sizeof(err));
	ok(rc < 0 && strstr(err, "symlink"), "symlinked openclaw.json refused");
	(void)unlink(path);
	ok(mkfifo(path, 0600) == 0, "planted a FIFO");
	rc = occonfig_apply(tmp, &p, false, err, sizeof(err));
	ok(rc < 0, "FIFO refused without blocking");
	(void)unlink(path);

	/* ownership */
	if (geteuid() == 0) {
		p.uid = 65534;
		p.gid = 65534;
		rc = occonfig_apply(tmp, &p, false, err, sizeof(err));
		ok(rc == 0 && stat(path, &st1) == 0 && st1.st_uid == 65534 &&
		       st1.st_gid == 65534,
		   "owned by the gateway's uid/gid");
	} else {
		skip(1, "not root: cannot chown");
	}
	ok(only_expected_files(), "no temp file left");
}

int main(void)
{
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	/* Everything occonfig logs goes to a file that is checked at the end.
	 */
	char logpath[64];
	int logfd;

	(void)snprintf(logpath, sizeof(logpath), "%s.log", tmp);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	log_set_fd(logfd);
	test_first_boot_minimal();
	test_first_boot_poe();
	test_first_boot_everything();
	test_anthropic_only();
	test_openai();
	test_legacy_merge();
	test_user_choices();
	test_numbers();
	test_malformed();
	test_apply();
	log_reset();
	(void)close(logfd);
	{
		FILE *f = fopen(logpath, "r");
		char line[1024];
		size_t lines = 0, leaks = 0;

		while (f && fgets(line, sizeof(line), f)) {
			lines++;
			if (!no_secret_in(line))
				leaks++;
		}
		if (f)
			fclose(f);
		ok(lines > 5, "occonfig logged (%zu lines)", lines);
		is_int(leaks, 0, "no secret value in any log line");
		(void)unlink(logpath);
	}
	{
		char cmd[300];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			diag("unable to remove %s", tmp);
	}
	return tap_done();
}
