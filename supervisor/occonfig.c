/* SPDX-License-Identifier: MIT */
#include "supervisor/occonfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "init/cleanup.h"
#include "init/log.h"

#define PATH_KEY_MAX  256
#define SECRETS_MAX   12
#define REDACTED      "[REDACTED by tenant-init]"
#define SECRET_MIN    8 /* shorter values are not searched inside strings */
#define LIST_SEPS     ", \t"
#define JSON_FLAGS    (JSON_INDENT(2) | JSON_PRESERVE_ORDER)
#define POE_PROVIDER  "poe"
#define POE_BASE_URL  "https://api.poe.com/v1"
#define POE_DEFAULT   "poe/Claude-Sonnet-4.5"
#define ANTH_DEFAULT  "anthropic/claude-opus-5"
#define CF_GW_URL     "https://gateway.ai.cloudflare.com/v1/"
#define CF_CTX_WINDOW 131072
#define CF_MAX_TOKENS 8192

/* A secret the platform manages: its variable and its value. */
struct managed {
	const char *name;
	const char *value;
};

struct ctx {
	const struct occonfig_params *p;
	const struct openclaw_env *o;
	struct managed sec[SECRETS_MAX];
	size_t nsec;
	bool oom;
};

static void cleanup_json(json_t **j)
{
	json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cleanup_json)))

/* ---- small tree helpers (errors collapse into c->oom) ---- */

static void put(struct ctx *c, json_t *obj, const char *key, json_t *v)
{
	if (!obj || !v) {
		json_decref(v);
		c->oom = true;
		return;
	}
	if (json_object_set_new(obj, key, v) < 0)
		c->oom = true;
}

static void put_default(struct ctx *c, json_t *obj, const char *key, json_t *v)
{
	if (obj && json_object_get(obj, key)) {
		json_decref(v);
		return;
	}
	put(c, obj, key, v);
}

/* The object at key, created when absent (a non-object is replaced). */
static json_t *child(struct ctx *c, json_t *obj, const char *key)
{
	json_t *v;

	if (!obj)
		return NULL;
	v = json_object_get(obj, key);
	if (json_is_object(v))
		return v;
	if (v)
		log_warn("openclaw.json: '%s' is not an object; replacing it",
			 key);
	v = json_object();
	put(c, obj, key, v);
	return c->oom ? NULL : v;
}

/* The object at a dotted path below root, created as needed. */
static json_t *obj_at(struct ctx *c, json_t *root, const char *path)
{
	_cleanup_free_ char *buf = strdup(path);
	char *save = NULL;
	json_t *cur = root;

	if (!buf) {
		c->oom = true;
		return NULL;
	}
	for (char *tok = strtok_r(buf, ".", &save); tok && cur;
	     tok = strtok_r(NULL, ".", &save))
		cur = child(c, cur, tok);
	return cur;
}

/* The object at a dotted path, or NULL; nothing is created. */
static json_t *obj_get(json_t *root, const char *path)
{
	char buf[PATH_KEY_MAX];
	char *save = NULL;
	json_t *cur = root;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok && cur;
	     tok = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, tok);
	return json_is_object(cur) ? cur : NULL;
}

/* {"source":"env","provider":"default","id":name}: OpenClaw's SecretRef. */
static json_t *ref_new(const char *name)
{
	return json_pack("{s:s, s:s, s:s}", "source", "env", "provider",
			 "default", "id", name);
}

/* A JSON array of the non-empty items of a comma/blank separated list. */
static json_t *list_new(const char *csv)
{
	json_t *a = json_array();
	char *copy = strdup(csv);
	char *save = NULL;

	if (!a || !copy) {
		json_decref(a);
		free(copy);
		return NULL;
	}
	for (char *tok = strtok_r(copy, LIST_SEPS, &save); tok;
	     tok = strtok_r(NULL, LIST_SEPS, &save)) {
		if (json_array_append_new(a, json_string(tok)) < 0) {
			json_decref(a);
			a = NULL;
			break;
		}
	}
	free(copy);
	return a;
}

/* ---- the managed keys ---- */

static void model_default(struct ctx *c, json_t *root, const char *primary)
{
	json_t *defs = obj_at(c, root, "agents.defaults");
	json_t *m = defs ? json_object_get(defs, "model") : NULL;

	/* A string model or an object with a primary is the user's choice. */
	if (json_is_string(m))
		return;
	if (json_is_object(m)) {
		put_default(c, m, "primary", json_string(primary));
		return;
	}
	put(c, defs, "model", json_pack("{s:s}", "primary", primary));
}

static void model_enforce(struct ctx *c, json_t *root, const char *primary)
{
	json_t *defs = obj_at(c, root, "agents.defaults");
	json_t *m = defs ? json_object_get(defs, "model") : NULL;

	if (json_is_object(m)) /* keep the user's fallbacks */
		put(c, m, "primary", json_string(primary));
	else
		put(c, defs, "model", json_pack("{s:s}", "primary", primary));
}

/* PoeClaw's provider entry (start-openclaw.sh), the key as a SecretRef. */
static void provider_poe(struct ctx *c, json_t *root, const char *env)
{
	json_t *pv = obj_at(c, root, "models.providers." POE_PROVIDER);
	json_t *models;

	put(c, pv, "baseUrl", json_string(POE_BASE_URL));
	put(c, pv, "apiKey", ref_new(env));
	put(c, pv, "api", json_string("openai-completions"));
	models = pv ? json_object_get(pv, "models") : NULL;
	if (!json_is_array(models) || json_array_size(models) == 0)
		put(c, pv, "models",
		    json_pack("[{s:s, s:s, s:i, s:i}, {s:s, s:s, s:i, s:i},"
			      " {s:s, s:s, s:i, s:i}]",
			      "id", "Claude-Sonnet-4.5", "name",
			      "Claude Sonnet 4.5", "contextWindow", 200000,
			      "maxTokens", 8192, "id", "GPT-5.2", "name",
			      "GPT 5.2", "contextWindow", 128000, "maxTokens",
			      8192, "id", "Gemini-3-Pro", "name",
			      "Gemini 3 Pro", "contextWindow", 128000,
			      "maxTokens", 8192));
}

/*
 * Anthropic and OpenAI are built into OpenClaw: the entry only points
 * their credential at the environment (and Anthropic's base URL at
 * ANTHROPIC_BASE_URL when given). A models list is not needed for them.
 */
static void provider_builtin(struct ctx *c, json_t *root, const char *name,
			     const char *env, const char *base_url)
{
	char path[PATH_KEY_MAX];
	json_t *pv;

	(void)snprintf(path, sizeof(path), "models.providers.%s", name);
	pv = obj_at(c, root, path);
	put(c, pv, "apiKey", ref_new(env));
	if (base_url)
		put(c, pv, "baseUrl", json_string(base_url));
}

/*
 * CF_AI_GATEWAY_MODEL=PROVIDER/MODEL (validated by config_load), as the
 * seeds' scripts configure it: provider "cf-ai-gw-PROVIDER" on the AI
 * Gateway URL, the named model as the primary one.
 */
static void provider_ai_gateway(struct ctx *c, json_t *root)
{
	const struct openclaw_env *o = c->o;
	const char *model = strchr(o->cf_ai_gateway_model, '/') + 1;
	int plen = (int)(model - 1 - o->cf_ai_gateway_model);
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *primary = NULL;
	_cleanup_free_ char *url = NULL;
	bool anthropic =
	    plen == 9 && strncmp(o->cf_ai_gateway_model, "anthropic", 9) == 0;
	bool workers = plen == 10 &&
		       strncmp(o->cf_ai_gateway_model, "workers-ai", 10) == 0;
	json_t *pv;

	if (asprintf(&path, "models.providers.cf-ai-gw-%.*s", plen,
		     o->cf_ai_gateway_model) < 0)
		path = NULL;
	if (asprintf(&primary, "cf-ai-gw-%s", o->cf_ai_gateway_model) < 0)
		primary = NULL;
	if (asprintf(&url, CF_GW_URL "%s/%s/%.*s%s",
		     o->cf_ai_gateway_account_id, o->cf_ai_gateway_gateway_id,
		     plen, o->cf_ai_gateway_model, workers ? "/v1" : "") < 0)
		url = NULL;
	if (!path || !primary || !url) {
		c->oom = true;
		return;
	}
	pv = obj_at(c, root, path);
	put(c, pv, "baseUrl", json_string(url));
	put(c, pv, "apiKey", ref_new("CLOUDFLARE_AI_GATEWAY_API_KEY"));
	put(c, pv, "api",
	    json_string(anthropic ? "anthropic-messages"
				  : "openai-completions"));
	put(c, pv, "models",
	    json_pack("[{s:s, s:s, s:i, s:i}]", "id", model, "name", model,
		      "contextWindow", CF_CTX_WINDOW, "maxTokens",
		      CF_MAX_TOKENS));
	model_enforce(c, root, primary);
}

/* dmPolicy from the environment (enforced) or "pairing" (a default). */
static void dm_policy(struct ctx *c, json_t *ch, const char *policy,
		      const char *allow_from)
{
	const char *eff;
	json_t *af;

	if (policy)
		put(c, ch, "dmPolicy", json_string(policy));
	else
		put_default(c, ch, "dmPolicy", json_string("pairing"));
	if (allow_from)
		put(c, ch, "allowFrom", list_new(allow_from));
	eff = ch ? json_string_value(json_object_get(ch, "dmPolicy")) : NULL;
	af = ch ? json_object_get(ch, "allowFrom") : NULL;
	/* OpenClaw drops every DM under "open" unless allowFrom has "*". */
	if (policy && strcmp(policy, "open") == 0 && !allow_from)
		put(c, ch, "allowFrom", json_pack("[s]", "*"));
	else if (eff && strcmp(eff, "allowlist") == 0 &&
		 (!json_is_array(af) || json_array_size(af) == 0))
		log_warn("openclaw.json: a channel's dmPolicy is 'allowlist' "
			 "with an empty allowFrom: every direct message will "
			 "be dropped");
}

static void channels(struct ctx *c, json_t *root)
{
	const struct openclaw_env *o = c->o;
	json_t *ch;

	if (o->telegram_bot_token) {
		ch = obj_at(c, root, "channels.telegram");
		put(c, ch, "botToken", ref_new("TELEGRAM_BOT_TOKEN"));
		put(c, ch, "enabled", json_true());
		dm_policy(c, ch, o->telegram_dm_policy,
			  o->telegram_dm_allow_from);
	}
	if (o->discord_bot_token) {
		ch = obj_at(c, root, "channels.discord");
		put(c, ch, "token", ref_new("DISCORD_BOT_TOKEN"));
		put(c, ch, "enabled", json_true());
		dm_policy(c, ch, o->discord_dm_policy, NULL);
	}
	if (o->slack_bot_token && o->slack_app_token) {
		ch = obj_at(c, root, "channels.slack");
		put(c, ch, "botToken", ref_new("SLACK_BOT_TOKEN"));
		put(c, ch, "appToken", ref_new("SLACK_APP_TOKEN"));
		put(c, ch, "enabled", json_true());
	}
}

/*
 * Keys the seeds' scripts wrote that OpenClaw 2026.9.6 refuses to start
 * with ("openclaw config validate"):
 *   gateway.controlUi.allowInsecureAuth   Unrecognized key (removed; dev
 *                                         mode maps to
 *                                         dangerouslyDisableDeviceAuth)
 *   channels.discord.dm.policy/allowFrom  not allowed under dm any more;
 *                                         moved to channels.discord.
 *                                         dmPolicy/allowFrom when those
 *                                         are unset
 */
static void drop_rejected(struct ctx *c, json_t *root)
{
	json_t *ui = obj_get(root, "gateway.controlUi");
	json_t *dc = obj_get(root, "channels.discord");
	json_t *dm = dc ? json_object_get(dc, "dm") : NULL;
	static const struct {
		const char *old, *new_;
	} moves[] = {{"policy", "dmPolicy"}, {"allowFrom", "allowFrom"}};

	if (ui && json_object_get(ui, "allowInsecureAuth")) {
		(void)json_object_del(ui, "allowInsecureAuth");
		log_info("openclaw.json: removed "
			 "gateway.controlUi.allowInsecureAuth (rejected by "
			 "OpenClaw 2026.9.6)");
	}
	if (!json_is_object(dm))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(moves); i++) {
		json_t *v = json_object_get(dm, moves[i].old);
		if (!v)
			continue;
		if (!json_object_get(dc, moves[i].new_))
			put(c, dc, moves[i].new_, json_incref(v));
		(void)json_object_del(dm, moves[i].old);
		log_info("openclaw.json: moved channels.discord.dm.%s to "
			 "channels.discord.%s (OpenClaw 2026.9.6 rejects the "
			 "old place)",
			 moves[i].old, moves[i].new_);
	}
	if (json_object_size(dm) == 0)
		(void)json_object_del(dc, "dm");
}

static void apply_managed(struct ctx *c, json_t *root)
{
	const struct openclaw_env *o = c->o;
	const char *kenv = c->p->api_key_env;
	bool key_is_anth = kenv && strcmp(kenv, "ANTHROPIC_API_KEY") == 0;
	bool key_is_oai = kenv && strcmp(kenv, "OPENAI_API_KEY") == 0;
	json_t *gw = obj_at(c, root, "gateway");
	json_t *ui;

	drop_rejected(c, root);
	put(c, gw, "mode", json_string("local"));
	put(c, gw, "port", json_integer(c->p->cfg->gateway_port));
	put(c, gw, "bind", json_string("lan"));
	if (o->gateway_token) {
		json_t *auth = child(c, gw, "auth");
		put(c, auth, "mode", json_string("token"));
		put(c, auth, "token", ref_new("OPENCLAW_GATEWAY_TOKEN"));
	}
	if (o->trusted_proxies)
		put(c, gw, "trustedProxies", list_new(o->trusted_proxies));
	if (o->allowed_origins)
		put(c, child(c, gw, "controlUi"), "allowedOrigins",
		    list_new(o->allowed_origins));
	if (o->dev_mode_set && o->dev_mode) {
		put(c, child(c, gw, "controlUi"),
		    "dangerouslyDisableDeviceAuth", json_true());
	} else if (o->dev_mode_set) {
		ui = obj_get(root, "gateway.controlUi");
		if (ui)
			(void)json_object_del(ui,
					      "dangerouslyDisableDeviceAuth");
	}

	if (kenv) {
		/* PoeClaw's Worker talks to /v1/chat/completions. */
		put(c,
		    obj_at(c, root, "gateway.http.endpoints.chatCompletions"),
		    "enabled", json_true());
		if (key_is_anth)
			provider_builtin(c, root, "anthropic", kenv,
					 o->anthropic_base_url);
		else if (key_is_oai)
			provider_builtin(c, root, "openai", kenv, NULL);
		else
			provider_poe(c, root, kenv);
	}
	if (o->anthropic_api_key && !key_is_anth)
		provider_builtin(c, root, "anthropic", "ANTHROPIC_API_KEY",
				 o->anthropic_base_url);
	if (o->openai_api_key && !key_is_oai)
		provider_builtin(c, root, "openai", "OPENAI_API_KEY", NULL);
	/*
	 * The default model, lowest precedence first: a named AI Gateway
	 * model is enforced; Poe's and Anthropic's are suggestions. With
	 * only an OpenAI key OpenClaw's own default is an OpenAI model.
	 */
	if (kenv && !key_is_anth && !key_is_oai)
		model_default(c, root, POE_DEFAULT);
	else if (o->anthropic_api_key || key_is_anth)
		model_default(c, root, ANTH_DEFAULT);
	if (o->cf_ai_gateway_model)
		provider_ai_gateway(c, root);
	channels(c, root);
}

/* ---- plaintext secrets in an existing file ---- */

static void managed_add(struct ctx *c, const char *name, const char *value)
{
	if (value && *value && c->nsec < SECRETS_MAX)
		c->sec[c->nsec++] = (struct managed){name, value};
}

static void managed_init(struct ctx *c)
{
	const struct openclaw_env *o = c->o;

	managed_add(c, c->p->api_key_env, c->p->api_key_value);
	managed_add(c, "OPENCLAW_GATEWAY_TOKEN", o->gateway_token);
	managed_add(c, "TELEGRAM_BOT_TOKEN", o->telegram_bot_token);
	managed_add(c, "DISCORD_BOT_TOKEN", o->discord_bot_token);
	managed_add(c, "SLACK_BOT_TOKEN", o->slack_bot_token);
	managed_add(c, "SLACK_APP_TOKEN", o->slack_app_token);
	managed_add(c, "ANTHROPIC_API_KEY", o->anthropic_api_key);
	managed_add(c, "OPENAI_API_KEY", o->openai_api_key);
	managed_add(c, "CLOUDFLARE_AI_GATEWAY_API_KEY",
		    o->cloudflare_ai_gateway_api_key);
}

/* The managed secret s equals or (for long values) contains, or NULL. */
static const struct managed *managed_match(const struct ctx *c, const char *s,
					   bool *exact)
{
	for (size_t i = 0; i < c->nsec; i++) {
		const char *v = c->sec[i].value;
		if (strcmp(s, v) == 0) {
			*exact = true;
			return &c->sec[i];
		}
		if (strlen(v) >= SECRET_MIN && strstr(s, v)) {
			*exact = false;
			return &c->sec[i];
		}
	}
	return NULL;
}

/* Credential fields that take a SecretRef in OpenClaw 2026.9.6. */
static bool is_credential_key(const char *key)
{
	return strcmp(key, "apiKey") == 0 || strcmp(key, "token") == 0 ||
	       strcmp(key, "botToken") == 0 || strcmp(key, "appToken") == 0;
}

/*
 * Walk the tree for strings that carry a managed secret in plaintext.
 * redact: replace them with a marker (for the backup copy). Otherwise a
 * credential field equal to a managed secret becomes the SecretRef (the
 * old scripts wrote plaintext there), and anything else is reported by
 * path, without the value, for the user to fix.
 */
static void scrub(struct ctx *c, json_t *node, char *path, size_t plen,
		  bool redact, size_t *hits)
{
	const char *key;
	json_t *v;
	void *tmp;
	size_t idx;

	if (json_is_object(node)) {
		json_object_foreach_safe(node, tmp, key, v)
		{
			size_t n = plen;
			const struct managed *m;
			bool exact = false;

			n += (size_t)snprintf(path + plen, PATH_KEY_MAX - plen,
					      "%s%s", plen ? "." : "", key);
			if (n >= PATH_KEY_MAX)
				n = PATH_KEY_MAX - 1;
			if (!json_is_string(v)) {
				scrub(c, v, path, n, redact, hits);
				continue;
			}
			m = managed_match(c, json_string_value(v), &exact);
			if (!m && !redact && is_credential_key(key))
				log_warn("openclaw.json: %s is a plaintext "
					 "credential (synced as is); a "
					 "SecretRef keeps it out of the data "
					 "directory",
					 path);
			if (!m)
				continue;
			(*hits)++;
			if (redact)
				put(c, node, key, json_string(REDACTED));
			else if (exact && is_credential_key(key))
				put(c, node, key, ref_new(m->name));
			else
				log_warn("openclaw.json: %s holds the value of "
					 "%s in plaintext (it is synced as "
					 "is); use a SecretRef to %s instead",
					 path, m->name, m->name);
		}
	} else if (json_is_array(node)) {
		json_array_foreach(node, idx, v)
		{
			size_t n = plen;
			const struct managed *m;
			bool exact = false;

			n += (size_t)snprintf(path + plen, PATH_KEY_MAX - plen,
					      "[%zu]", idx);
			if (n >= PATH_KEY_MAX)
				n = PATH_KEY_MAX - 1;
			if (!json_is_string(v)) {
				scrub(c, v, path, n, redact, hits);
				continue;
			}
			m = managed_match(c, json_string_value(v), &exact);
			if (!m)
				continue;
			(*hits)++;
			if (redact) {
				if (json_array_set_new(
					node, idx, json_string(REDACTED)) < 0)
					c->oom = true;
			} else {
				log_warn("openclaw.json: %s holds the value of "
					 "%s in plaintext",
					 path, m->name);
			}
		}
	}
	path[plen] = '\0';
}

/* ---- render ---- */

/*
 * Does text repeat a key in an object? The parser keeps the last value,
 * so the scrub never sees the first: a verbatim copy would keep it.
 */
static bool has_duplicate_keys(const char *text, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);

	json_decref(j);
	return !j && json_error_code(&jerr) == json_error_duplicate_key;
}

/* Does every real in the tree survive printing with prec digits? */
static bool reals_fit(json_t *n, int prec)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_real(n)) {
		char buf[64];
		double d = json_real_value(n);
		(void)snprintf(buf, sizeof(buf), "%.*g", prec, d);
		return strtod(buf, NULL) == d;
	}
	if (json_is_object(n)) {
		json_object_foreach(n, key, v)
		{
			if (!reals_fit(v, prec))
				return false;
		}
	} else if (json_is_array(n)) {
		json_array_foreach(n, i, v)
		{
			if (!reals_fit(v, prec))
				return false;
		}
	}
	return true;
}

/*
 * jansson prints reals with 17 digits, which turns a user's 0.7 into
 * 0.69999999999999996. The fewest digits (15..17) that reproduce every
 * real of the file exactly keep what the user (or JSON.stringify) wrote.
 */
static int real_precision(json_t *root)
{
	for (int p = 15; p < 17; p++)
		if (reals_fit(root, p))
			return p;
	return 17;
}

static char *dump(json_t *root)
{
	char *s = json_dumps(
	    root, JSON_FLAGS | JSON_REAL_PRECISION(real_precision(root)));
	char *out;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	out = realloc(s, n + 2);
	if (!out) {
		free(s);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	return out;
}

int occonfig_render(const struct occonfig_params *p, const char *existing,
		    size_t len, char **out, char **bak, char *err,
		    size_t errlen)
{
	_cleanup_json_ json_t *root = NULL;
	_cleanup_json_ json_t *old = NULL;
	struct ctx c = {.p = p, .o = &p->cfg->openclaw};
	char path[PATH_KEY_MAX] = "";
	size_t hits = 0;
	json_error_t jerr;

	*out = NULL;
	if (bak)
		*bak = NULL;
	err[0] = '\0';
	managed_init(&c);
	if (existing && memchr(existing, '\0', len)) {
		/*
		 * jansson takes a NUL byte after a number or a literal as the
		 * end of the token, and the verbatim backup (a C string)
		 * would end there. Strict JSON has none anywhere.
		 */
		const char *nul = memchr(existing, '\0', len);
		int line = 1, col = 1;

		for (const char *q = existing; q < nul; q++, col++)
			if (*q == '\n') {
				line++;
				col = 0;
			}
		(void)snprintf(err, errlen,
			       "%d:%d: not strict JSON (a NUL byte)", line,
			       col);
		return -EINVAL;
	}
	if (existing) {
		/*
		 * Strict JSON, duplicates allowed (the last one wins, as in
		 * OpenClaw's parser). No value is echoed in the message: the
		 * file may hold secrets.
		 */
		old = json_loadb(existing, len, 0, &jerr);
		if (!old) {
			enum json_error_code code = json_error_code(&jerr);
			(void)snprintf(
			    err, errlen, "%d:%d: not strict JSON (%s)",
			    jerr.line, jerr.column,
			    code == json_error_out_of_memory ? "out of memory"
			    : code == json_error_numeric_overflow
				? "a number beyond 64-bit integers"
				: "syntax error; JSON5 comments or unquoted "
				  "keys are not supported");
			return json_error_code(&jerr) ==
				       json_error_out_of_memory
				   ? -ENOMEM
				   : -EINVAL;
		}
		if (!json_is_object(old)) {
			(void)snprintf(err, errlen,
				       "1:1: the top level is not an object");
			return -EINVAL;
		}
		root = json_deep_copy(old);
		if (!root)
			return -ENOMEM;
		scrub(&c, root, path, 0, false, &hits);
	} else {
		root = json_object();
		if (!root)
			return -ENOMEM;
	}
	apply_managed(&c, root);
	if (c.oom)
		return -ENOMEM;
	*out = dump(root);
	if (!*out)
		return -ENOMEM;
	if (!existing || !bak)
		return 0;
	/*
	 * The backup: the old bytes, unless they hold a managed secret, or
	 * repeat a key (whose hidden value could hold one): then the scrubbed
	 * tree, re-serialised.
	 */
	hits = 0;
	scrub(&c, old, path, 0, true, &hits);
	if (c.oom) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	*bak = hits || has_duplicate_keys(existing, len)
		   ? dump(old)
		   : strndup(existing, len);
	if (!*bak) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ---- files ---- */

static int mkdir_p(const char *dir)
{
	_cleanup_free_ char *copy = strdup(dir);

	if (!copy)
		return -ENOMEM;
	for (char *s = copy + 1;; s++) {
		char saved = *s;
		if (saved != '/' && saved != '\0')
			continue;
		*s = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = saved;
		if (!saved)
			break;
	}
	return 0;
}

/*
 * Read the existing file. The data directory is restored from the
 * tenant's bucket: a symlink could point anywhere and a FIFO would block
 * PID 1, so only a regular file is read (O_NOFOLLOW, O_NONBLOCK).
 * Returns 0 (text NULL when absent), or -errno.
 */
static int read_existing(int dirfd, char **text, size_t *len, char *err,
			 size_t errlen)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;
	ssize_t got = 0;

	*text = NULL;
	*len = 0;
	fd = openat(dirfd, OCCONFIG_NAME,
		    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		(void)snprintf(err, errlen, "unable to open %s: %s%s",
			       OCCONFIG_NAME, strerror(errno),
			       errno == ELOOP ? " (a symlink; refused)" : "");
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)snprintf(err, errlen, "%s is not a regular file",
			       OCCONFIG_NAME);
		return -EINVAL;
	}
	if ((unsigned long long)st.st_size > OCCONFIG_MAX_SIZE) {
		(void)snprintf(err, errlen, "%s is larger than %u bytes",
			       OCCONFIG_NAME, OCCONFIG_MAX_SIZE);
		return -EFBIG;
	}
	buf = malloc(OCCONFIG_MAX_SIZE + 1);
	if (!buf)
		return -ENOMEM;
	while (n <= OCCONFIG_MAX_SIZE &&
	       (got = TEMP_FAILURE_RETRY(
		    read(fd, buf + n, OCCONFIG_MAX_SIZE + 1 - n))) > 0)
		n += (size_t)got;
	if (got < 0) {
		(void)snprintf(err, errlen, "unable to read %s: %s",
			       OCCONFIG_NAME, strerror(errno));
		return -errno;
	}
	if (n > OCCONFIG_MAX_SIZE) {
		(void)snprintf(err, errlen, "%s is larger than %u bytes",
			       OCCONFIG_NAME, OCCONFIG_MAX_SIZE);
		return -EFBIG;
	}
	*text = steal_ptr(&buf);
	*len = n;
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

static int set_owner_mode(int fd, const struct occonfig_params *p)
{
	if (fchmod(fd, 0600) < 0)
		return -errno;
	if ((p->uid != (uid_t)-1 || p->gid != (gid_t)-1) &&
	    fchown(fd, p->uid, p->gid) < 0)
		return -errno;
	return 0;
}

/*
 * Replace dir/name with data atomically: a temp file in the same directory
 * (named *.tmp, which sync excludes), mode and owner set before any byte
 * is written, fsync, rename over the old name, fsync the directory so the
 * rename itself survives a crash.
 */
static int write_atomic(const char *dir, int dirfd, const char *name,
			const char *data, const struct occonfig_params *p)
{
	_cleanup_free_ char *tmpl = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (asprintf(&tmpl, "%s/.%s.XXXXXX.tmp", dir, name) < 0) {
		tmpl = NULL;
		return -ENOMEM;
	}
	fd = mkostemps(tmpl, 4, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = set_owner_mode(fd, p);
	if (r == 0)
		r = write_all(fd, data, strlen(data));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && close(steal_fd(&fd)) < 0)
		r = -errno;
	if (r == 0 && renameat(AT_FDCWD, tmpl, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmpl);
		return r;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

/* Enforce mode and owner on an unchanged file. */
static int fix_existing(int dirfd, const struct occonfig_params *p)
{
	_cleanup_close_ int fd =
	    openat(dirfd, OCCONFIG_NAME,
		   O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	return set_owner_mode(fd, p);
}

int occonfig_set_aside(const char *state_dir, char *aside, size_t cap)
{
	_cleanup_close_ int dirfd =
	    open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	time_t now = time(NULL);
	struct tm tm;

	if (dirfd < 0)
		return -errno;
	if (!gmtime_r(&now, &tm) ||
	    strftime(aside, cap, OCCONFIG_NAME ".invalid-%Y%m%dT%H%M%SZ",
		     &tm) == 0)
		return -ENAMETOOLONG;
	/* No replacing: an earlier copy set aside this second is kept. */
	if (renameat2(dirfd, OCCONFIG_NAME, dirfd, aside, RENAME_NOREPLACE) < 0)
		return -errno;
	return fsync(dirfd) < 0 ? -errno : 0;
}

int occonfig_apply(const char *state_dir, const struct occonfig_params *p,
		   bool create_dir, char *err, size_t errlen)
{
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *old = NULL;
	_cleanup_free_ char *out = NULL;
	_cleanup_free_ char *bak = NULL;
	char rerr[CONFIG_ERR_MAX];
	size_t len = 0;
	int r;

	err[0] = '\0';
	if (create_dir) {
		r = mkdir_p(state_dir);
		if (r < 0) {
			(void)snprintf(err, errlen, "unable to create %s: %s",
				       state_dir, strerror(-r));
			return r;
		}
	}
	dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		(void)snprintf(err, errlen, "unable to open %s: %s", state_dir,
			       strerror(errno));
		return r;
	}
	r = read_existing(dirfd, &old, &len, err, errlen);
	if (r < 0)
		return r;
	r = occonfig_render(p, old, len, &out, &bak, rerr, sizeof(rerr));
	if (r < 0) {
		(void)snprintf(err, errlen, "%s/%s:%s", state_dir,
			       OCCONFIG_NAME,
			       r == -ENOMEM ? " out of memory" : rerr);
		if (r == -EINVAL)
			(void)snprintf(err + strlen(err), errlen - strlen(err),
				       "; left untouched");
		return r;
	}
	if (old && len == strlen(out) && memcmp(old, out, len) == 0) {
		r = fix_existing(dirfd, p);
		if (r < 0)
			(void)snprintf(err, errlen,
				       "unable to set the mode/owner of %s: %s",
				       OCCONFIG_NAME, strerror(-r));
		else
			log_info("openclaw.json is up to date");
		return r;
	}
	if (bak) {
		r = write_atomic(state_dir, dirfd, OCCONFIG_BAK_NAME, bak, p);
		if (r < 0) {
			(void)snprintf(err, errlen, "unable to write %s: %s",
				       OCCONFIG_BAK_NAME, strerror(-r));
			return r;
		}
	}
	r = write_atomic(state_dir, dirfd, OCCONFIG_NAME, out, p);
	if (r < 0) {
		(void)snprintf(err, errlen, "unable to write %s: %s",
			       OCCONFIG_NAME, strerror(-r));
		return r;
	}
	log_info("%s %s/%s%s", old ? "patched" : "wrote", state_dir,
		 OCCONFIG_NAME,
		 old ? " (previous file: openclaw.json.bak)" : "");
	return 0;
}
