/* SPDX-License-Identifier: MIT */
/*
 * Configuration: the command line and every environment variable of the
 * contract (../shared/DESIGN.md), read once into one validated struct.
 *
 * config_load() is the only place that reads the environment. It fails fast
 * with a message naming the variable and what is wrong with its value; the
 * caller exits 78. Secrets are copied into wiped-on-free buffers, registered
 * with the log redaction filter, removed from the environment and overwritten
 * in the original environment block, so /proc/1/environ no longer shows them.
 *
 * struct config is plain data (STYLE.md 2.1): tests build and inspect it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "init/log.h"

/* Exit codes of the contract (sysexits.h values). */
#define EXIT_INTERNAL 70 /* EX_SOFTWARE: internal error */
#define EXIT_TEMPFAIL 75 /* EX_TEMPFAIL: clean stop, flush incomplete */
#define EXIT_CONFIG   78 /* EX_CONFIG: bad env, policy or key */

/* TENANT_HEALTH_LISTEN's default (also read by `tenant-init health`). */
#define CONFIG_DEFAULT_HEALTH_LISTEN "0.0.0.0:18790"

/* A duration that means "never" where the variable allows it. */
#define DURATION_NEVER UINT64_MAX

/* A secret value: NUL-terminated, wiped by secret_free(). */
struct secret {
	char *value;
	size_t len;
};

enum restart_policy {
	RESTART_ALWAYS,
	RESTART_ON_FAILURE,
	RESTART_NEVER,
};

enum sync_kind {
	SYNC_OFF,
	SYNC_S3,
	SYNC_FILE,
};

enum key_format {
	KEY_FORMAT_AUTO,
	KEY_FORMAT_V1,
	KEY_FORMAT_POECLAW,
	KEY_FORMAT_PBKDF2,
};

/* One TENANT_SYNC_PATHS entry: LOCALDIR=REMOTEPREFIX/ */
struct sync_path {
	char *local;  /* absolute, no trailing slash (except "/") */
	char *remote; /* relative, ends with '/' */
};

struct sync_config {
	enum sync_kind kind;
	/* S3 (R2 or TENANT_SYNC_URL=s3://) */
	char *endpoint; /* scheme://host[:port], NULL = AWS virtual-host */
	char *region;
	char *bucket;
	char *prefix; /* "" or ends with '/' */
	bool path_style;
	bool is_r2;
	char *access_key_id;
	struct secret secret_access_key;
	struct secret session_token; /* AWS_SESSION_TOKEN, optional */
	/* file:// */
	char *file_root;
	/* common */
	struct sync_path *paths;
	size_t npaths;
	char **excludes; /* NULL-terminated globs */
	uint64_t debounce_ms;
	unsigned concurrency;
	/* 0 in the three below: the default (sync_config_* below). */
	uint64_t max_file_size;	     /* bytes; larger files are not synced */
	unsigned max_watches;	     /* inotify watches at most */
	uint64_t rescan_interval_ms; /* rescans of what has no watch */
	uint64_t lease_ms; /* TENANT_SYNC_LEASE; DURATION_NEVER = off */
	/* Where the credentials came from, when files (sync/creds.h). */
	struct sync_cred_files {
		bool r2;       /* R2_* names (else AWS_*) in messages */
		char *key_id;  /* ..._ACCESS_KEY_ID_FILE */
		char *secret;  /* ..._SECRET_ACCESS_KEY_FILE */
		char *token;   /* AWS_SESSION_TOKEN_FILE */
		char *shared;  /* AWS_SHARED_CREDENTIALS_FILE */
		char *profile; /* AWS_PROFILE, with it */
	} cred_files;
	/*
	 * Not from the environment: this instance's name in the lease,
	 * made by PID 1 once, so that a restarted agent knows the lease as
	 * its own. NULL: the engine makes one (one-shot commands).
	 */
	char *instance_id;
};

/* The defaults of TENANT_SYNC_MAX_FILE_SIZE, _MAX_WATCHES, _RESCAN_INTERVAL. */
#define SYNC_DEFAULT_MAX_FILE_SIZE	((uint64_t)4 << 30)
#define SYNC_DEFAULT_MAX_WATCHES	8192u
#define SYNC_DEFAULT_RESCAN_INTERVAL_MS 30000u
#define SYNC_DEFAULT_LEASE_MS		30000u

/* The limits in effect for sc (a zero field means the default). */
static inline uint64_t sync_config_max_file_size(const struct sync_config *sc)
{
	return sc->max_file_size ? sc->max_file_size
				 : SYNC_DEFAULT_MAX_FILE_SIZE;
}

static inline unsigned sync_config_max_watches(const struct sync_config *sc)
{
	return sc->max_watches ? sc->max_watches : SYNC_DEFAULT_MAX_WATCHES;
}

static inline uint64_t sync_config_rescan_ms(const struct sync_config *sc)
{
	return sc->rescan_interval_ms ? sc->rescan_interval_ms
				      : SYNC_DEFAULT_RESCAN_INTERVAL_MS;
}

/* The lease time; 0 when the lease is off. */
static inline uint64_t sync_config_lease_ms(const struct sync_config *sc)
{
	return sc->lease_ms == DURATION_NEVER ? 0
	       : sc->lease_ms		      ? sc->lease_ms
					      : SYNC_DEFAULT_LEASE_MS;
}

/* OpenClaw settings the first-boot config is made from (all optional). */
struct openclaw_env {
	char *gateway_token;
	char *allowed_origins;
	char *trusted_proxies;
	bool dev_mode;
	bool dev_mode_set; /* OPENCLAW_DEV_MODE given (true or false) */
	char *telegram_bot_token;
	char *telegram_dm_policy;
	char *telegram_dm_allow_from;
	char *discord_bot_token;
	char *discord_dm_policy;
	char *slack_bot_token;
	char *slack_app_token;
	char *anthropic_api_key;
	char *anthropic_base_url;
	char *openai_api_key;
	char *cf_ai_gateway_model;
	char *cloudflare_ai_gateway_api_key;
	char *cf_ai_gateway_account_id;
	char *cf_ai_gateway_gateway_id;
};

/* What the command line asked for (run mode). */
struct cli {
	bool subreaper;		   /* -s */
	bool group_signals;	   /* -g */
	int verbosity;		   /* -v count */
	bool warn_not_reaper;	   /* -w */
	int pdeathsig;		   /* -p, 0 = none */
	uint8_t success_codes[32]; /* -e bitmap over 0..255 */
	char **command;		   /* COMMAND [ARG...] or NULL (gateway mode) */
};

struct config {
	bool tini_mode; /* a COMMAND was given */
	struct cli cli;

	char *state_dir;
	char **gateway_argv;  /* NULL-terminated, from COMMAND or CMD */
	bool gateway_cmd_set; /* TENANT_GATEWAY_CMD given explicitly */
	char *gateway_user;   /* NULL = unchanged */
	uint16_t gateway_port;
	char *health_listen; /* as given, "host:port" */
	struct sockaddr_storage health_addr;
	socklen_t health_addrlen;
	enum restart_policy restart;
	unsigned max_restarts;
	uint64_t restart_backoff_max_ms; /* cap of the restart backoff */
	uint64_t stop_timeout_ms;	 /* may be DURATION_NEVER */
	uint64_t flush_timeout_ms;
	uint64_t sleep_after_ms; /* may be DURATION_NEVER */
	char *policy_path;
	bool policy_explicit;
	enum log_format log_format;
	enum log_level log_level;

	struct sync_config sync;

	struct secret encryption_secret; /* value NULL when unset */
	char *api_key_file;		 /* NULL = default search */
	char *api_key_env;
	enum key_format api_key_format;
	char *api_key_salt;

	struct openclaw_env openclaw;
};

/* An error message buffer large enough for any config diagnostic. */
#define CONFIG_ERR_MAX 512

/*
 * Parse the run-mode command line (argv[0] is the program). On error returns
 * -EINVAL with a message in err; with -h/--help or --version returns 1 after
 * setting *what to "help"/"version".
 */
int config_cli_parse(struct cli *cli, int argc, char **argv, const char **what,
		     char *err, size_t errlen);

/*
 * Read and validate every variable of the contract into cfg (zeroed by the
 * caller, cli already parsed into cfg->cli). scrub: remove secrets from the
 * process environment and wipe them in place (PID 1 and subcommands do; unit
 * tests that use a private envp need not). Returns 0, or -EINVAL with
 * "VARIABLE: problem" in err, or -ENOMEM.
 */
int config_load(struct config *cfg, char **envp, bool scrub, char *err,
		size_t errlen);

/* Free everything config_load() allocated and wipe the secrets. */
void config_fini(struct config *cfg);

/*
 * Print the resolved configuration, secrets redacted as "(set)", one
 * "NAME=value" per line to fd. Returns 0 or -errno.
 */
int config_print(const struct config *cfg, int fd);

/* Wipe and free a secret; leaves it empty. */
void secret_free(struct secret *s);

/* Set an empty secret to a copy of v (registered for log redaction). */
int secret_set_value(struct secret *s, const char *v);

/*
 * Read the secret file path (at most 4 KiB, one trailing newline and CR
 * dropped, not empty, no NUL) into out; name is the variable for
 * messages. Returns 0, or -EINVAL with "NAME: problem" in err, -ENOMEM.
 */
int config_secret_file_read(const char *name, const char *path,
			    struct secret *out, char *err, size_t errlen);

/*
 * Parse a duration: "500ms", "30s", "10m", "1h", "2h30m", a plain number of
 * seconds (fraction allowed), or "never" when allow_never. Returns 0 or
 * -EINVAL/-ERANGE with a short reason in *why.
 */
int config_duration_parse(const char *s, bool allow_never, uint64_t *out_ms,
			  const char **why);

/* Format a duration as the parser reads it ("1h30m", "500ms", "never"). */
void config_duration_format(uint64_t ms, char *buf, size_t cap);

/*
 * Parse a size in bytes: a whole number with an optional unit K, M, G or
 * T (powers of 1024; "KiB", "MB" and the like are read the same way).
 * Returns 0 or -EINVAL/-ERANGE with a short reason in *why.
 */
int config_size_parse(const char *s, uint64_t *out, const char **why);

/* Format a size as the parser reads it ("4G", "1536M", "100"). */
void config_size_format(uint64_t bytes, char *buf, size_t cap);

/*
 * Split a command line into words as a shell would (quotes, backslashes,
 * $NAME and ${NAME} expanded through lookup), nothing else of a shell.
 * lookup returns NULL for unset names; it may refuse a name by setting
 * *refuse. Returns a NULL-terminated vector (free with config_strv_free),
 * or NULL with errno set and a reason in err.
 */
char **config_words_split(const char *s,
			  const char *(*lookup)(const char *name, void *ctx,
						bool *refuse),
			  void *ctx, char *err, size_t errlen);

/*
 * Split s as TENANT_GATEWAY_CMD is split, $NAME expanded from envp under
 * the contract's rules: secret variables are refused; TENANT_GATEWAY_PORT
 * and OPENCLAW_STATE_DIR fall back to cfg's resolved values. Used for the
 * gateway command and the policy's command and "set" values. Returns as
 * config_words_split().
 */
char **config_expand_words(const struct config *cfg, char *const *envp,
			   const char *s, char *err, size_t errlen);

/* Free a NULL-terminated string vector. */
void config_strv_free(char **v);

/* Is name one of the secret variables that never leave tenant-init? */
bool config_is_secret_var(const char *name);

/*
 * Parse "host:port", "[v6]:port" or ":port" (all addresses) into addr.
 * Returns 0 or -EINVAL with a reason in *why.
 */
int config_listen_parse(const char *s, struct sockaddr_storage *addr,
			socklen_t *len, const char **why);

/* True when code is one of the -e success codes. */
bool config_is_success_code(const struct cli *cli, int code);

/* Parse a signal name ("TERM", "SIGTERM") or number. Returns >0 or -EINVAL. */
int config_signal_parse(const char *s);
