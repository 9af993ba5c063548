/* SPDX-License-Identifier: MIT */
#include "init/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "sync/creds.h"

#define DEFAULT_STATE_DIR "/data"
#define DEFAULT_GATEWAY_CMD                                                    \
	"openclaw gateway --port $TENANT_GATEWAY_PORT --bind lan "             \
	"--allow-unconfigured"
#define DEFAULT_GATEWAY_PORT  18789
#define DEFAULT_HEALTH_LISTEN CONFIG_DEFAULT_HEALTH_LISTEN
#define DEFAULT_POLICY	      "/etc/tenant-init/policy.ini"
#define DEFAULT_EXCLUDE	      "*.lock,*.log,*.tmp,.git/**,node_modules/**"
#define DEFAULT_BUCKET	      "moltbot-data"
#define SECRET_FILE_MAX	      4096
#define DURATION_MAX_MS	      (366ull * 24 * 3600 * 1000)
/* TENANT_RESTART_BACKOFF_MAX's bounds (supervisor/gateway.c starts at 1 s). */
#define RESTART_BACKOFF_MIN_MS	     1000ull
#define RESTART_BACKOFF_MAX_LIMIT_MS 3600000ull

/*
 * Variables that hold storage credentials or the key-encryption secret. They
 * are removed from the environment of PID 1 (and so of every child). All of
 * R2_* goes, as DESIGN.md says, even the names that are not secret: the
 * gateway has no business knowing where the bucket is.
 */
static const char *const secret_vars[] = {
    "R2_ACCESS_KEY_ID",
    "R2_SECRET_ACCESS_KEY",
    "R2_ENDPOINT",
    "R2_BUCKET_NAME",
    "R2_USER_PREFIX",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ENCRYPTION_SECRET",
    "ENCRYPTION_SECRET_FILE",
    "AWS_ACCESS_KEY_ID_FILE",
    "AWS_SECRET_ACCESS_KEY_FILE",
    "AWS_SESSION_TOKEN_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_PROFILE",
};

bool config_is_secret_var(const char *name)
{
	if (strncmp(name, "R2_", 3) == 0 ||
	    strncmp(name, "ENCRYPTION_", 11) == 0)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(secret_vars); i++)
		if (strcmp(name, secret_vars[i]) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Error reporting                                                     */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Small parsers                                                       */

static const struct {
	const char *unit;
	uint64_t ms;
} duration_units[] = {
    {"ms", 1},
    {"h", 3600000},
    {"m", 60000},
    {"s", 1000},
};

int config_duration_parse(const char *s, bool allow_never, uint64_t *out_ms,
			  const char **why)
{
	uint64_t total = 0;
	unsigned seen = 0;
	const char *p = s;

	if (strcmp(s, "never") == 0) {
		if (!allow_never) {
			*why = "'never' is not allowed here";
			return -EINVAL;
		}
		*out_ms = DURATION_NEVER;
		return 0;
	}
	if (!*s) {
		*why = "empty duration";
		return -EINVAL;
	}
	while (*p) {
		uint64_t whole = 0, frac = 0, fscale = 1, unit_ms = 0;
		const char *start = p;
		size_t ui;

		while (isdigit((unsigned char)*p)) {
			if (whole > DURATION_MAX_MS) {
				*why = "duration too large";
				return -ERANGE;
			}
			whole = whole * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (*p == '.') {
			p++;
			if (!isdigit((unsigned char)*p)) {
				*why = "digit expected after '.'";
				return -EINVAL;
			}
			while (isdigit((unsigned char)*p)) {
				if (fscale < 1000000000ull) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					fscale *= 10;
				}
				p++;
			}
		}
		if (p == start) {
			*why = (*p == '-') ? "negative duration"
					   : "expected a number like 30s, "
					     "10m, 1h or 500ms";
			return -EINVAL;
		}
		if (!*p) {
			/* A plain number is seconds; only alone. */
			if (start != s) {
				*why = "missing unit after the last number";
				return -EINVAL;
			}
			unit_ms = 1000;
			ui = 3;
		} else {
			for (ui = 0; ui < ARRAY_SIZE(duration_units); ui++) {
				size_t ul = strlen(duration_units[ui].unit);
				if (strncmp(p, duration_units[ui].unit, ul) ==
				    0) {
					unit_ms = duration_units[ui].ms;
					p += ul;
					break;
				}
			}
			if (!unit_ms) {
				*why = "unknown unit (use ms, s, m or h)";
				return -EINVAL;
			}
			if (seen & (1u << ui)) {
				*why = "unit given twice";
				return -EINVAL;
			}
			seen |= 1u << ui;
		}
		if (whole > DURATION_MAX_MS / unit_ms) {
			*why = "duration too large";
			return -ERANGE;
		}
		total += whole * unit_ms + frac * unit_ms / fscale;
		if (total > DURATION_MAX_MS) {
			*why = "duration too large (limit 366 days)";
			return -ERANGE;
		}
	}
	*out_ms = total;
	return 0;
}

void config_duration_format(uint64_t ms, char *buf, size_t cap)
{
	size_t n = 0;
	uint64_t h, m, s;

	if (ms == DURATION_NEVER) {
		(void)snprintf(buf, cap, "never");
		return;
	}
	if (ms % 1000) {
		(void)snprintf(buf, cap, "%llums", (unsigned long long)ms);
		return;
	}
	s = ms / 1000;
	h = s / 3600;
	m = (s / 60) % 60;
	s %= 60;
	buf[0] = '\0';
	if (h)
		n += (size_t)snprintf(buf + n, cap - n, "%lluh",
				      (unsigned long long)h);
	if (m && n < cap)
		n += (size_t)snprintf(buf + n, cap - n, "%llum",
				      (unsigned long long)m);
	if ((s || (!h && !m)) && n < cap)
		(void)snprintf(buf + n, cap - n, "%llus",
			       (unsigned long long)s);
}

/* Parse an unsigned decimal in [min, max]. */
static int parse_uint(const char *s, unsigned long long min,
		      unsigned long long max, unsigned long long *out,
		      const char **why)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0])) {
		*why = s[0] == '-' ? "must not be negative"
				   : "expected a whole number";
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end) {
		*why = "expected a whole number";
		return -EINVAL;
	}
	if (errno == ERANGE || v < min || v > max) {
		*why = "out of range";
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int config_listen_parse(const char *s, struct sockaddr_storage *addr,
			socklen_t *len, const char **why)
{
	const char *colon;
	char host[INET6_ADDRSTRLEN + 2];
	size_t hlen;
	unsigned long long port;

	memset(addr, 0, sizeof(*addr));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			*why = "expected [IPv6]:PORT";
			return -EINVAL;
		}
		hlen = (size_t)(close - s - 1);
		if (hlen >= sizeof(host)) {
			*why = "address too long";
			return -EINVAL;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "expected HOST:PORT (e.g. 0.0.0.0:18790)";
			return -EINVAL;
		}
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(host)) {
			*why = "address too long";
			return -EINVAL;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
	}
	if (parse_uint(colon + 1, 1, 65535, &port, why) < 0) {
		*why = "port must be a number from 1 to 65535";
		return -EINVAL;
	}
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
			*why = "not a numeric IPv6 address";
			return -EINVAL;
		}
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
		if (!host[0] || strcmp(host, "*") == 0)
			(void)strcpy(host, "0.0.0.0");
		else if (strcmp(host, "localhost") == 0)
			(void)strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
			*why = "host must be a numeric IPv4 address, "
			       "localhost, or [IPv6]";
			return -EINVAL;
		}
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
	}
	return 0;
}

int config_signal_parse(const char *s)
{
	unsigned long long n;
	const char *why;

	if (isdigit((unsigned char)s[0])) {
		if (parse_uint(s, 1, (unsigned long long)SIGRTMAX, &n, &why) <
		    0)
			return -EINVAL;
		return (int)n;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (int sig = 1; sig < NSIG; sig++) {
		const char *abbrev = sigabbrev_np(sig);
		if (abbrev && strcasecmp(abbrev, s) == 0)
			return sig;
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Word splitting                                                      */

struct strbuf {
	char *s;
	size_t len, cap;
};

static int sb_putc(struct strbuf *b, char c)
{
	if (b->len + 2 > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		char *n = realloc(b->s, ncap);
		if (!n)
			return -ENOMEM;
		b->s = n;
		b->cap = ncap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return 0;
}

static int sb_puts(struct strbuf *b, const char *s)
{
	for (; *s; s++)
		if (sb_putc(b, *s) < 0)
			return -ENOMEM;
	return 0;
}

static int strv_push(char ***v, size_t *n, char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = s;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

void config_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static bool is_name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/*
 * Expand $NAME or ${NAME} at *pp (pointing at '$') into b. A '$' not
 * followed by a name is kept literally, as a shell keeps it.
 */
static int expand_var(const char **pp, struct strbuf *b,
		      const char *(*lookup)(const char *, void *, bool *),
		      void *ctx, char *err, size_t errlen)
{
	const char *p = *pp + 1;
	char name[129];
	size_t n = 0;
	bool braced = false, refuse = false;
	const char *val;

	if (*p == '{') {
		braced = true;
		p++;
	}
	if (!is_name_start(*p)) {
		if (braced)
			return fail(err, errlen, "bad substitution '${'");
		*pp = p;
		return sb_putc(b, '$');
	}
	while (is_name_char(*p)) {
		if (n + 1 >= sizeof(name))
			return fail(err, errlen, "variable name too long");
		name[n++] = *p++;
	}
	name[n] = '\0';
	if (braced) {
		if (*p != '}')
			return fail(err, errlen,
				    "unterminated '${%s' (only ${NAME} is "
				    "supported)",
				    name);
		p++;
	}
	val = lookup(name, ctx, &refuse);
	if (refuse)
		return fail(err, errlen,
			    "refers to $%s, a secret that never goes on a "
			    "command line",
			    name);
	*pp = p;
	return val ? sb_puts(b, val) : 0;
}

char **config_words_split(const char *s,
			  const char *(*lookup)(const char *name, void *ctx,
						bool *refuse),
			  void *ctx, char *err, size_t errlen)
{
	char **v = NULL;
	size_t n = 0;
	struct strbuf b = {0};
	bool in_word = false, quoted = false;
	const char *p = s;
	int r = 0;

	err[0] = '\0';
	while (*p && r == 0) {
		char c = *p;
		if (c == ' ' || c == '\t' || c == '\n') {
			if (in_word && (b.len || quoted)) {
				r = strv_push(&v, &n, b.s ? b.s : strdup(""));
				b = (struct strbuf){0};
				if (r == 0 && !v[n - 1])
					r = -ENOMEM;
			}
			in_word = quoted = false;
			p++;
			continue;
		}
		in_word = true;
		if (c == '\'') {
			const char *end = strchr(p + 1, '\'');
			quoted = true;
			if (!end) {
				r = fail(err, errlen,
					 "unterminated single quote");
				break;
			}
			for (p++; p < end && r == 0; p++)
				r = sb_putc(&b, *p);
			p = end + 1;
		} else if (c == '"') {
			quoted = true;
			p++;
			while (r == 0 && *p && *p != '"') {
				if (*p == '\\' && p[1] &&
				    strchr("\\\"$`", p[1])) {
					r = sb_putc(&b, p[1]);
					p += 2;
				} else if (*p == '$') {
					r = expand_var(&p, &b, lookup, ctx, err,
						       errlen);
				} else if (*p == '`') {
					r = fail(err, errlen,
						 "command substitution is not "
						 "supported");
				} else {
					r = sb_putc(&b, *p++);
				}
			}
			if (r == 0 && *p != '"')
				r = fail(err, errlen,
					 "unterminated double quote");
			else if (r == 0)
				p++;
		} else if (c == '\\') {
			if (!p[1]) {
				r = fail(err, errlen, "trailing backslash");
				break;
			}
			r = sb_putc(&b, p[1]);
			p += 2;
		} else if (c == '$') {
			r = expand_var(&p, &b, lookup, ctx, err, errlen);
		} else if (strchr("|&;<>()`", c)) {
			r = fail(err, errlen,
				 "shell operator '%c' is not supported (the "
				 "command runs without a shell)",
				 c);
		} else {
			r = sb_putc(&b, c);
			p++;
		}
	}
	if (r == 0 && in_word && (b.len || quoted)) {
		r = strv_push(&v, &n, b.s ? b.s : strdup(""));
		if (r == 0 && !v[n - 1])
			r = -ENOMEM;
		b = (struct strbuf){0};
	}
	free(b.s);
	if (r == 0 && n == 0)
		r = fail(err, errlen, "empty command");
	if (r < 0) {
		if (r == -ENOMEM && !err[0])
			(void)snprintf(err, errlen, "out of memory");
		config_strv_free(v);
		errno = -r;
		return NULL;
	}
	return v;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */

bool config_is_success_code(const struct cli *cli, int code)
{
	if (code < 0 || code > 255)
		return false;
	return cli->success_codes[code / 8] & (1u << (code % 8));
}

int config_cli_parse(struct cli *cli, int argc, char **argv, const char **what,
		     char *err, size_t errlen)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long code;
	const char *why;
	int c;

	memset(cli, 0, sizeof(*cli));
	*what = NULL;
	/*
	 * 0, not 1: glibc only forgets its position inside a cluster of
	 * flags ("-hs" returned at -h) when optind is 0 (getopt(3)); with 1
	 * a second parse went on reading the previous argv.
	 */
	optind = 0;
	opterr = 0;
	/* '+': stop at the first non-option, the COMMAND's own flags stay. */
	while ((c = getopt_long(argc, argv, "+sge:p:vwhVl", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			cli->subreaper = true;
			break;
		case 'g':
			cli->group_signals = true;
			break;
		case 'v':
			cli->verbosity++;
			break;
		case 'w':
			cli->warn_not_reaper = true;
			break;
		case 'e':
			if (parse_uint(optarg, 0, 255, &code, &why) < 0)
				return fail(err, errlen,
					    "-e: '%s' is not an exit code "
					    "(0..255)",
					    optarg);
			cli->success_codes[code / 8] |=
			    (uint8_t)(1u << (code % 8));
			break;
		case 'p': {
			int sig = config_signal_parse(optarg);
			if (sig < 0)
				return fail(err, errlen,
					    "-p: '%s' is not a signal", optarg);
			cli->pdeathsig = sig;
			break;
		}
		case 'h':
			*what = "help";
			return 1;
		case 'V':
			*what = "version";
			return 1;
		case 'l':
			*what = "license";
			return 1;
		case '?':
			if (optopt)
				return fail(err, errlen,
					    "option -%c: unknown or missing "
					    "its argument",
					    optopt);
			return fail(err, errlen, "unknown option '%s'",
				    argv[optind - 1]);
		default:
			return fail(err, errlen, "unknown option");
		}
	}
	if (optind < argc)
		cli->command = &argv[optind];
	return 0;
}

/* ------------------------------------------------------------------ */
/* Environment                                                         */

struct env {
	char **envp;
};

/* Value of name in envp; NULL when unset or empty (empty counts as unset). */
static const char *env_get(const struct env *e, const char *name)
{
	size_t nl = strlen(name);

	for (char **p = e->envp; p && *p; p++)
		if (strncmp(*p, name, nl) == 0 && (*p)[nl] == '=')
			return (*p)[nl + 1] ? *p + nl + 1 : NULL;
	return NULL;
}

static int dup_env(const struct env *e, const char *name, const char *def,
		   char **out)
{
	const char *v = env_get(e, name);

	if (!v)
		v = def;
	if (!v) {
		*out = NULL;
		return 0;
	}
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static int secret_set(struct secret *s, const char *v, size_t len)
{
	s->value = malloc(len + 1);
	if (!s->value)
		return -ENOMEM;
	memcpy(s->value, v, len);
	s->value[len] = '\0';
	s->len = len;
	return log_secret_add(s->value, len) == -ENOMEM ? -ENOMEM : 0;
}

int secret_set_value(struct secret *s, const char *v)
{
	return secret_set(s, v, strlen(v));
}

void secret_free(struct secret *s)
{
	if (s->value) {
		explicit_bzero(s->value, s->len);
		free(s->value);
	}
	s->value = NULL;
	s->len = 0;
}

static int env_duration(const struct env *e, const char *name, const char *def,
			bool allow_never, uint64_t max_ms, uint64_t *out,
			char *err, size_t errlen)
{
	const char *v = env_get(e, name);
	const char *why = NULL;

	if (!v)
		v = def;
	if (config_duration_parse(v, allow_never, out, &why) < 0)
		return fail(err, errlen, "%s: '%s': %s", name, v, why);
	if (*out != DURATION_NEVER && *out > max_ms) {
		char buf[32];
		config_duration_format(max_ms, buf, sizeof(buf));
		return fail(err, errlen, "%s: '%s': longer than the limit %s",
			    name, v, buf);
	}
	return 0;
}

static int env_uint(const struct env *e, const char *name,
		    unsigned long long def, unsigned long long min,
		    unsigned long long max, unsigned long long *out, char *err,
		    size_t errlen)
{
	const char *v = env_get(e, name);
	const char *why;

	if (!v) {
		*out = def;
		return 0;
	}
	if (parse_uint(v, min, max, out, &why) < 0)
		return fail(err, errlen, "%s: '%s': %s (%llu..%llu)", name, v,
			    why, min, max);
	return 0;
}

int config_size_parse(const char *s, uint64_t *out, const char **why)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end;
	int shift = 0;

	if (!isdigit((unsigned char)s[0])) {
		*why = s[0] == '-' ? "must not be negative"
				   : "expected a size such as 4G or 512M";
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE) {
		*why = "out of range";
		return -ERANGE;
	}
	if (*end) {
		u = strchr(units, toupper((unsigned char)*end));
		if (!u) {
			*why = "unit must be K, M, G or T (powers of 1024)";
			return -EINVAL;
		}
		shift = 10 * (int)(u - units + 1);
		end++;
		if (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0)
			end += strlen(end);
		if (*end) {
			*why = "unit must be K, M, G or T (powers of 1024)";
			return -EINVAL;
		}
	}
	if (shift && v > (UINT64_MAX >> shift)) {
		*why = "out of range";
		return -ERANGE;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

void config_size_format(uint64_t bytes, char *buf, size_t cap)
{
	static const char units[] = "TGMK";
	int shift = 40;

	for (const char *u = units; *u; u++, shift -= 10) {
		if (bytes && bytes % ((uint64_t)1 << shift) == 0) {
			(void)snprintf(buf, cap, "%llu%c",
				       (unsigned long long)(bytes >> shift),
				       *u);
			return;
		}
	}
	(void)snprintf(buf, cap, "%llu", (unsigned long long)bytes);
}

static int env_size(const struct env *e, const char *name, const char *def,
		    uint64_t min, uint64_t max, uint64_t *out, char *err,
		    size_t errlen)
{
	const char *v = env_get(e, name);
	const char *why = NULL;
	char lo[32], hi[32];

	if (!v)
		v = def;
	if (config_size_parse(v, out, &why) < 0)
		return fail(err, errlen, "%s: '%s': %s", name, v, why);
	if (*out < min || *out > max) {
		config_size_format(min, lo, sizeof(lo));
		config_size_format(max, hi, sizeof(hi));
		return fail(err, errlen, "%s: '%s': out of range (%s..%s)",
			    name, v, lo, hi);
	}
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Does s contain a byte that has no place in a setting (control chars)? */
static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

struct lookup_ctx {
	const struct config *cfg;
	struct env env;
	char port[8];
};

/*
 * $NAME in a command line or a policy "set" value: the environment, never
 * a secret; the port and the data directory fall back to their resolved
 * values (the default command names the port, which has a default).
 */
static const char *cmd_lookup(const char *name, void *ctx, bool *refuse)
{
	struct lookup_ctx *l = ctx;
	const char *v;

	if (config_is_secret_var(name)) {
		*refuse = true;
		return NULL;
	}
	v = env_get(&l->env, name);
	if (!v && strcmp(name, "TENANT_GATEWAY_PORT") == 0)
		return l->port;
	if (!v && strcmp(name, "OPENCLAW_STATE_DIR") == 0)
		return l->cfg->state_dir;
	return v;
}

char **config_expand_words(const struct config *cfg, char *const *envp,
			   const char *s, char *err, size_t errlen)
{
	struct lookup_ctx l = {.cfg = cfg, .env = {.envp = (char **)envp}};

	(void)snprintf(l.port, sizeof(l.port), "%u", cfg->gateway_port);
	return config_words_split(s, cmd_lookup, &l, err, errlen);
}

static bool path_has_dotdot(const char *p)
{
	const char *s = p;

	while (*s) {
		const char *e = strchrnul(s, '/');
		if (e - s == 2 && s[0] == '.' && s[1] == '.')
			return true;
		s = *e ? e + 1 : e;
	}
	return false;
}

/* Normalise an absolute directory: strip trailing slashes (keep "/"). */
static int parse_local_dir(const char *name, const char *v, char **out,
			   char *err, size_t errlen)
{
	size_t n = strlen(v);

	if (v[0] != '/')
		return fail(err, errlen, "%s: '%s': must be an absolute path",
			    name, v);
	if (path_has_dotdot(v))
		return fail(err, errlen, "%s: '%s': must not contain '..'",
			    name, v);
	if (has_control(v))
		return fail(err, errlen,
			    "%s: path contains a control character", name);
	while (n > 1 && v[n - 1] == '/')
		n--;
	*out = strndup(v, n);
	return *out ? 0 : -ENOMEM;
}

static int parse_sync_paths(struct config *cfg, const struct env *e, char *err,
			    size_t errlen)
{
	const char *name = "TENANT_SYNC_PATHS";
	const char *v = env_get(e, name);
	_cleanup_free_ char *def = NULL;
	_cleanup_free_ char *copy = NULL;
	char *save = NULL, *tok;
	int r;

	if (!v) {
		if (asprintf(&def, "%s=openclaw/", cfg->state_dir) < 0)
			return -ENOMEM;
		v = def;
	}
	copy = strdup(v);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		struct sync_path *np;
		char *local = NULL, *remote = NULL;
		size_t rl;

		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (!eq)
			return fail(err, errlen,
				    "%s: '%s': expected LOCALDIR=REMOTEPREFIX/",
				    name, tok);
		*eq = '\0';
		r = parse_local_dir(name, tok, &local, err, errlen);
		if (r < 0)
			return r;
		rl = strlen(eq + 1);
		if (rl == 0 || eq[1] == '/' || path_has_dotdot(eq + 1) ||
		    has_control(eq + 1) || strstr(eq + 1, "//")) {
			free(local);
			return fail(err, errlen,
				    "%s: remote prefix '%s' must be a relative "
				    "path without '..' or '//', like openclaw/",
				    name, eq + 1);
		}
		if (asprintf(&remote, "%s%s", eq + 1,
			     eq[rl] == '/' ? "" : "/") < 0) {
			free(local);
			return -ENOMEM;
		}
		for (size_t i = 0; i < cfg->sync.npaths; i++) {
			if (strcmp(cfg->sync.paths[i].local, local) == 0 ||
			    strcmp(cfg->sync.paths[i].remote, remote) == 0) {
				r = fail(err, errlen,
					 "%s: '%s=%s' repeats a directory or "
					 "prefix",
					 name, local, remote);
				free(local);
				free(remote);
				return r;
			}
		}
		np = realloc(cfg->sync.paths,
			     (cfg->sync.npaths + 1) * sizeof(*np));
		if (!np) {
			free(local);
			free(remote);
			return -ENOMEM;
		}
		cfg->sync.paths = np;
		np[cfg->sync.npaths].local = local;
		np[cfg->sync.npaths].remote = remote;
		cfg->sync.npaths++;
	}
	if (cfg->sync.npaths == 0)
		return fail(err, errlen, "%s: '%s': no LOCALDIR=PREFIX/ entry",
			    name, v);
	return 0;
}

static int parse_excludes(struct config *cfg, const struct env *e, char *err,
			  size_t errlen)
{
	const char *name = "TENANT_SYNC_EXCLUDE";
	const char *v = env_get(e, name);
	_cleanup_free_ char *copy = NULL;
	char *save = NULL, *tok;
	size_t n = 0;

	if (!v)
		v = DEFAULT_EXCLUDE;
	if (strcmp(v, "none") == 0)
		v = "";
	copy = strdup(v);
	if (!copy)
		return -ENOMEM;
	cfg->sync.excludes = calloc(1, sizeof(char *));
	if (!cfg->sync.excludes)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *g;
		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (has_control(tok) || tok[0] == '/')
			return fail(err, errlen,
				    "%s: '%s': a glob is relative to the sync "
				    "root, without control characters",
				    name, tok);
		g = strdup(tok);
		if (!g || strv_push(&cfg->sync.excludes, &n, g) < 0) {
			free(g);
			return -ENOMEM;
		}
	}
	return 0;
}

static bool bucket_name_ok(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return false;
	for (const char *p = b; *p; p++)
		if (!(islower((unsigned char)*p) ||
		      isdigit((unsigned char)*p) || *p == '-' || *p == '.' ||
		      *p == '_'))
			return false;
	return true;
}

/* Accept http(s)://host[:port][/]; store without the trailing slash. */
static int parse_endpoint(const char *name, const char *v, char **out,
			  char *err, size_t errlen)
{
	const char *host;
	size_t n;

	if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else
		return fail(err, errlen,
			    "%s: '%s': must start with https:// or http://",
			    name, v);
	n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	if (!*host || *host == '/' || has_control(v) || strpbrk(host, " ?#@") ||
	    memchr(host, '/', (size_t)(v + n - host)))
		return fail(err, errlen,
			    "%s: '%s': expected scheme://host[:port] with no "
			    "path",
			    name, v);
	*out = strndup(v, n);
	return *out ? 0 : -ENOMEM;
}

/*
 * NAME or NAME_FILE (at most one of them) into out, which stays empty when
 * neither is set; a file's path is kept in *path for the agent, which
 * reads it again when it changes (sync/creds.h).
 */
static int env_secret_or_file(const struct env *e, const char *name,
			      const char *fname, struct secret *out,
			      char **path, char *err, size_t errlen)
{
	const char *v = env_get(e, name), *fp = env_get(e, fname);
	int r;

	if (v && fp)
		return fail(err, errlen, "%s: set only one of %s and %s", fname,
			    name, fname);
	if (v)
		return secret_set(out, v, strlen(v));
	if (!fp)
		return 0;
	r = config_secret_file_read(fname, fp, out, err, errlen);
	if (r == 0 && !(*path = strdup(fp)))
		r = -ENOMEM;
	return r;
}

/* The key id the same way, as a plain string. */
static int env_id_or_file(const struct env *e, const char *name,
			  const char *fname, char **out, char **path, char *err,
			  size_t errlen)
{
	struct secret s = {NULL, 0};
	int r = env_secret_or_file(e, name, fname, &s, path, err, errlen);

	if (r == 0 && s.value && !(*out = strdup(s.value)))
		r = -ENOMEM;
	secret_free(&s);
	return r;
}

static int parse_sync(struct config *cfg, const struct env *e, char *err,
		      size_t errlen)
{
	struct sync_config *s = &cfg->sync;
	const char *url = env_get(e, "TENANT_SYNC_URL");
	const char *r2id = env_get(e, "R2_ACCESS_KEY_ID")
			       ?: env_get(e, "R2_ACCESS_KEY_ID_FILE");
	const char *r2secret = env_get(e, "R2_SECRET_ACCESS_KEY")
				   ?: env_get(e, "R2_SECRET_ACCESS_KEY_FILE");
	const char *acct = env_get(e, "CF_ACCOUNT_ID");
	const char *r2ep = env_get(e, "R2_ENDPOINT");
	unsigned long long conc;
	int r;

	if (url && strncmp(url, "file://", 7) == 0) {
		s->kind = SYNC_FILE;
		r = parse_local_dir("TENANT_SYNC_URL", url + 7, &s->file_root,
				    err, errlen);
		if (r < 0)
			return r;
	} else if (url && strncmp(url, "s3://", 5) == 0) {
		const char *b = url + 5;
		const char *slash = strchr(b, '/');
		const char *shared = env_get(e, "AWS_SHARED_CREDENTIALS_FILE");
		const char *ep = env_get(e, "AWS_ENDPOINT_URL");
		struct sync_cred_files *cf = &s->cred_files;
		size_t plen;

		s->kind = SYNC_S3;
		s->bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
		if (!s->bucket)
			return -ENOMEM;
		if (!bucket_name_ok(s->bucket))
			return fail(err, errlen,
				    "TENANT_SYNC_URL: '%s' is not a valid "
				    "bucket name (3-63 of a-z 0-9 . - _)",
				    s->bucket);
		b = slash ? slash + 1 : "";
		plen = strlen(b);
		if (b[0] == '/' || path_has_dotdot(b) || has_control(b) ||
		    strstr(b, "//"))
			return fail(err, errlen,
				    "TENANT_SYNC_URL: prefix '%s' must be a "
				    "relative path without '..' or '//'",
				    b);
		if (asprintf(&s->prefix, "%s%s", b,
			     plen && b[plen - 1] != '/' ? "/" : "") < 0)
			return -ENOMEM;
		r = env_id_or_file(e, "AWS_ACCESS_KEY_ID",
				   "AWS_ACCESS_KEY_ID_FILE", &s->access_key_id,
				   &cf->key_id, err, errlen);
		if (r == 0)
			r = env_secret_or_file(e, "AWS_SECRET_ACCESS_KEY",
					       "AWS_SECRET_ACCESS_KEY_FILE",
					       &s->secret_access_key,
					       &cf->secret, err, errlen);
		if (r == 0)
			r = env_secret_or_file(
			    e, "AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN_FILE",
			    &s->session_token, &cf->token, err, errlen);
		if (r < 0)
			return r;
		/* The AWS CLI's file, for what the variables did not give. */
		if (shared &&
		    (!s->access_key_id || !s->secret_access_key.value)) {
			if (!(cf->shared = strdup(shared)) ||
			    dup_env(e, "AWS_PROFILE", "default", &cf->profile) <
				0)
				return -ENOMEM;
			r = sync_creds_read(cf, &s->access_key_id,
					    &s->secret_access_key,
					    &s->session_token, err, errlen);
			if (r < 0)
				return r;
		}
		if (!s->access_key_id)
			return fail(err, errlen,
				    "AWS_ACCESS_KEY_ID: required by "
				    "TENANT_SYNC_URL=s3:// (or "
				    "AWS_ACCESS_KEY_ID_FILE, "
				    "AWS_SHARED_CREDENTIALS_FILE)");
		if (!s->secret_access_key.value)
			return fail(err, errlen,
				    "AWS_SECRET_ACCESS_KEY: required by "
				    "TENANT_SYNC_URL=s3:// (or "
				    "AWS_SECRET_ACCESS_KEY_FILE, "
				    "AWS_SHARED_CREDENTIALS_FILE)");
		if (dup_env(e, "AWS_REGION", "us-east-1", &s->region) < 0)
			return -ENOMEM;
		if (ep) {
			r = parse_endpoint("AWS_ENDPOINT_URL", ep, &s->endpoint,
					   err, errlen);
			if (r < 0)
				return r;
			s->path_style = true;
		}
	} else if (url) {
		return fail(
		    err, errlen,
		    "TENANT_SYNC_URL: '%s': expected s3://BUCKET/PREFIX "
		    "or file:///path",
		    url);
	} else if (r2id || r2secret) {
		const char *b = env_get(e, "R2_BUCKET_NAME");
		const char *up = env_get(e, "R2_USER_PREFIX");

		if (!r2id)
			return fail(err, errlen,
				    "R2_ACCESS_KEY_ID: required with "
				    "R2_SECRET_ACCESS_KEY");
		if (!r2secret)
			return fail(err, errlen,
				    "R2_SECRET_ACCESS_KEY: required with "
				    "R2_ACCESS_KEY_ID");
		if (!acct && !r2ep)
			return fail(err, errlen,
				    "CF_ACCOUNT_ID: required for R2 (or set "
				    "R2_ENDPOINT)");
		s->kind = SYNC_S3;
		s->is_r2 = true;
		s->path_style = true;
		if (r2ep) {
			r = parse_endpoint("R2_ENDPOINT", r2ep, &s->endpoint,
					   err, errlen);
			if (r < 0)
				return r;
		} else {
			for (const char *p = acct; *p; p++)
				if (!isalnum((unsigned char)*p))
					return fail(err, errlen,
						    "CF_ACCOUNT_ID: '%s': "
						    "expected letters and "
						    "digits",
						    acct);
			if (asprintf(&s->endpoint,
				     "https://%s.r2.cloudflarestorage.com",
				     acct) < 0)
				return -ENOMEM;
		}
		s->bucket = strdup(b ? b : DEFAULT_BUCKET);
		s->region = strdup("auto");
		if (!s->bucket || !s->region)
			return -ENOMEM;
		if (!bucket_name_ok(s->bucket))
			return fail(
			    err, errlen,
			    "R2_BUCKET_NAME: '%s' is not a valid bucket "
			    "name (3-63 of a-z 0-9 . - _)",
			    s->bucket);
		if (up && (strchr(up, '/') || strcmp(up, "..") == 0 ||
			   strcmp(up, ".") == 0 || has_control(up)))
			return fail(err, errlen,
				    "R2_USER_PREFIX: '%s': one path segment "
				    "expected (no '/', not '.' or '..')",
				    up);
		if (up ? asprintf(&s->prefix, "users/%s/", up) < 0
		       : !(s->prefix = strdup("")))
			return -ENOMEM;
		s->cred_files.r2 = true;
		r = env_id_or_file(e, "R2_ACCESS_KEY_ID",
				   "R2_ACCESS_KEY_ID_FILE", &s->access_key_id,
				   &s->cred_files.key_id, err, errlen);
		if (r == 0)
			r = env_secret_or_file(
			    e, "R2_SECRET_ACCESS_KEY",
			    "R2_SECRET_ACCESS_KEY_FILE", &s->secret_access_key,
			    &s->cred_files.secret, err, errlen);
		if (r < 0)
			return r;
	} else {
		s->kind = SYNC_OFF;
	}

	r = parse_sync_paths(cfg, e, err, errlen);
	if (r < 0)
		return r;
	r = parse_excludes(cfg, e, err, errlen);
	if (r < 0)
		return r;
	r = env_duration(e, "TENANT_SYNC_DEBOUNCE", "1s", false, 600000,
			 &s->debounce_ms, err, errlen);
	if (r < 0)
		return r;
	r = env_uint(e, "TENANT_SYNC_CONCURRENCY", 16, 1, 256, &conc, err,
		     errlen);
	if (r < 0)
		return r;
	s->concurrency = (unsigned)conc;
	/* S3's largest object is 5 TiB. */
	r = env_size(e, "TENANT_SYNC_MAX_FILE_SIZE", "4G", 1, (uint64_t)5 << 40,
		     &s->max_file_size, err, errlen);
	if (r < 0)
		return r;
	r = env_uint(e, "TENANT_SYNC_MAX_WATCHES", 8192, 1, 1000000, &conc, err,
		     errlen);
	if (r < 0)
		return r;
	s->max_watches = (unsigned)conc;
	r = env_duration(e, "TENANT_SYNC_RESCAN_INTERVAL", "30s", false,
			 3600000, &s->rescan_interval_ms, err, errlen);
	if (r == 0 && s->rescan_interval_ms < 1000)
		return fail(err, errlen,
			    "TENANT_SYNC_RESCAN_INTERVAL: '%s': shorter than "
			    "the minimum 1s",
			    env_get(e, "TENANT_SYNC_RESCAN_INTERVAL"));
	if (r < 0)
		return r;
	{
		const char *v = env_get(e, "TENANT_SYNC_LEASE");

		if (v && strcmp(v, "off") == 0) {
			s->lease_ms = DURATION_NEVER;
			return 0;
		}
		r = env_duration(e, "TENANT_SYNC_LEASE", "30s", false, 3600000,
				 &s->lease_ms, err, errlen);
		if (r == 0 && s->lease_ms < 3000)
			return fail(err, errlen,
				    "TENANT_SYNC_LEASE: '%s': shorter than "
				    "the minimum 3s (or 'off')",
				    v);
	}
	return r;
}

int config_secret_file_read(const char *name, const char *path,
			    struct secret *out, char *err, size_t errlen)
{
	_cleanup_close_ int fd = -1;
	char buf[SECRET_FILE_MAX + 1];
	size_t len = 0;
	ssize_t n;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(err, errlen, "%s: unable to open '%s': %s", name,
			    path, strerror(errno));
	while ((n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		r = fail(err, errlen, "%s: unable to read '%s': %s", name, path,
			 strerror(errno));
		explicit_bzero(buf, sizeof(buf));
		return r;
	}
	if (len > SECRET_FILE_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return fail(err, errlen, "%s: '%s' is larger than %d bytes",
			    name, path, SECRET_FILE_MAX);
	}
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	if (len == 0)
		return fail(err, errlen, "%s: '%s' is empty", name, path);
	if (memchr(buf, '\0', len)) {
		explicit_bzero(buf, sizeof(buf));
		return fail(err, errlen, "%s: '%s' contains a NUL byte", name,
			    path);
	}
	r = secret_set(out, buf, len);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static int parse_keys(struct config *cfg, const struct env *e, char *err,
		      size_t errlen)
{
	const char *sec = env_get(e, "ENCRYPTION_SECRET");
	const char *secf = env_get(e, "ENCRYPTION_SECRET_FILE");
	const char *fmt = env_get(e, "TENANT_API_KEY_FORMAT");
	const char *kenv;
	const char *kf = env_get(e, "TENANT_API_KEY_FILE");
	int r;

	if (sec && secf)
		return fail(err, errlen,
			    "ENCRYPTION_SECRET_FILE: set only one of "
			    "ENCRYPTION_SECRET and ENCRYPTION_SECRET_FILE");
	if (sec) {
		r = secret_set(&cfg->encryption_secret, sec, strlen(sec));
		if (r < 0)
			return r;
	} else if (secf) {
		r = config_secret_file_read("ENCRYPTION_SECRET_FILE", secf,
					    &cfg->encryption_secret, err,
					    errlen);
		if (r < 0)
			return r;
	}
	if (kf) {
		if (kf[0] != '/' || has_control(kf))
			return fail(err, errlen,
				    "TENANT_API_KEY_FILE: '%s': must be an "
				    "absolute path",
				    kf);
		cfg->api_key_file = strdup(kf);
		if (!cfg->api_key_file)
			return -ENOMEM;
	}
	if (dup_env(e, "TENANT_API_KEY_ENV", "POE_API_KEY", &cfg->api_key_env) <
	    0)
		return -ENOMEM;
	kenv = cfg->api_key_env;
	/* OpenClaw's SecretRef id rule: ^[A-Z][A-Z0-9_]{0,127}$ */
	if (!(kenv[0] >= 'A' && kenv[0] <= 'Z') || strlen(kenv) > 128 ||
	    strspn(kenv, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
		strlen(kenv))
		return fail(err, errlen,
			    "TENANT_API_KEY_ENV: '%s': must match "
			    "[A-Z][A-Z0-9_]{0,127} (an OpenClaw SecretRef id)",
			    kenv);
	if (config_is_secret_var(kenv) || strncmp(kenv, "TENANT_", 7) == 0)
		return fail(err, errlen,
			    "TENANT_API_KEY_ENV: '%s' is reserved by "
			    "tenant-init",
			    kenv);
	if (!fmt || strcmp(fmt, "auto") == 0)
		cfg->api_key_format = KEY_FORMAT_AUTO;
	else if (strcmp(fmt, "v1") == 0)
		cfg->api_key_format = KEY_FORMAT_V1;
	else if (strcmp(fmt, "poeclaw") == 0)
		cfg->api_key_format = KEY_FORMAT_POECLAW;
	else if (strcmp(fmt, "pbkdf2") == 0)
		cfg->api_key_format = KEY_FORMAT_PBKDF2;
	else
		return fail(err, errlen,
			    "TENANT_API_KEY_FORMAT: '%s': expected auto, v1, "
			    "poeclaw or pbkdf2",
			    fmt);
	return dup_env(e, "TENANT_API_KEY_SALT", "vultrino-salt",
		       &cfg->api_key_salt);
}

/* OpenClaw 2026.9.6's dmPolicy values (channels.*.dmPolicy). */
static bool dm_policy_ok(const char *v)
{
	return !v || strcmp(v, "pairing") == 0 || strcmp(v, "allowlist") == 0 ||
	       strcmp(v, "open") == 0 || strcmp(v, "disabled") == 0;
}

/* Characters allowed in a URL path segment we build (AI Gateway ids). */
static bool url_segment_ok(const char *v)
{
	return v && *v &&
	       strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789-_.") == strlen(v);
}

/*
 * Combinations the first-boot config cannot be made from. The old scripts
 * warned and went on; a tenant then came up without its channel or model,
 * so these are configuration errors here.
 */
static int check_openclaw(const struct openclaw_env *o, char *err,
			  size_t errlen)
{
	const char *m = o->cf_ai_gateway_model;
	const char *slash;

	if (!dm_policy_ok(o->telegram_dm_policy))
		return fail(err, errlen,
			    "TELEGRAM_DM_POLICY: '%s': expected pairing, "
			    "allowlist, open or disabled",
			    o->telegram_dm_policy);
	if (!dm_policy_ok(o->discord_dm_policy))
		return fail(err, errlen,
			    "DISCORD_DM_POLICY: '%s': expected pairing, "
			    "allowlist, open or disabled",
			    o->discord_dm_policy);
	if (!o->slack_bot_token != !o->slack_app_token)
		return fail(err, errlen,
			    "%s: SLACK_BOT_TOKEN and SLACK_APP_TOKEN must be "
			    "set together (Slack Socket Mode needs both)",
			    o->slack_bot_token ? "SLACK_APP_TOKEN"
					       : "SLACK_BOT_TOKEN");
	if (o->anthropic_base_url &&
	    strncmp(o->anthropic_base_url, "https://", 8) != 0 &&
	    strncmp(o->anthropic_base_url, "http://", 7) != 0)
		return fail(err, errlen,
			    "ANTHROPIC_BASE_URL: '%s': expected an http(s):// "
			    "URL",
			    o->anthropic_base_url);
	if (!m)
		return 0;
	slash = strchr(m, '/');
	if (!slash || slash == m || !slash[1] ||
	    strspn(m, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
		(size_t)(slash - m))
		return fail(
		    err, errlen,
		    "CF_AI_GATEWAY_MODEL: '%s': expected PROVIDER/MODEL "
		    "(like workers-ai/@cf/meta/llama-3.3-70b-instruct-"
		    "fp8-fast)",
		    m);
	if (!o->cloudflare_ai_gateway_api_key)
		return fail(err, errlen,
			    "CF_AI_GATEWAY_MODEL: needs "
			    "CLOUDFLARE_AI_GATEWAY_API_KEY");
	if (!url_segment_ok(o->cf_ai_gateway_account_id) ||
	    !url_segment_ok(o->cf_ai_gateway_gateway_id))
		return fail(
		    err, errlen,
		    "CF_AI_GATEWAY_MODEL: needs CF_AI_GATEWAY_ACCOUNT_ID "
		    "and CF_AI_GATEWAY_GATEWAY_ID (letters, digits, "
		    "'-', '_', '.')");
	return 0;
}

static int parse_openclaw(struct config *cfg, const struct env *e, char *err,
			  size_t errlen)
{
	static const struct {
		const char *name;
		size_t off;
		bool secret;
	} vars[] = {
#define OC(n, f, s) {n, offsetof(struct openclaw_env, f), s}
	    OC("OPENCLAW_GATEWAY_TOKEN", gateway_token, true),
	    OC("OPENCLAW_ALLOWED_ORIGINS", allowed_origins, false),
	    OC("OPENCLAW_TRUSTED_PROXIES", trusted_proxies, false),
	    OC("TELEGRAM_BOT_TOKEN", telegram_bot_token, true),
	    OC("TELEGRAM_DM_POLICY", telegram_dm_policy, false),
	    OC("TELEGRAM_DM_ALLOW_FROM", telegram_dm_allow_from, false),
	    OC("DISCORD_BOT_TOKEN", discord_bot_token, true),
	    OC("DISCORD_DM_POLICY", discord_dm_policy, false),
	    OC("SLACK_BOT_TOKEN", slack_bot_token, true),
	    OC("SLACK_APP_TOKEN", slack_app_token, true),
	    OC("ANTHROPIC_API_KEY", anthropic_api_key, true),
	    OC("ANTHROPIC_BASE_URL", anthropic_base_url, false),
	    OC("OPENAI_API_KEY", openai_api_key, true),
	    OC("CF_AI_GATEWAY_MODEL", cf_ai_gateway_model, false),
	    OC("CLOUDFLARE_AI_GATEWAY_API_KEY", cloudflare_ai_gateway_api_key,
	       true),
	    OC("CF_AI_GATEWAY_ACCOUNT_ID", cf_ai_gateway_account_id, false),
	    OC("CF_AI_GATEWAY_GATEWAY_ID", cf_ai_gateway_gateway_id, false),
#undef OC
	};
	const char *dev = env_get(e, "OPENCLAW_DEV_MODE");

	for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
		char **slot =
		    (char **)(void *)((char *)&cfg->openclaw + vars[i].off);
		const char *v = env_get(e, vars[i].name);
		if (!v)
			continue;
		if (has_control(v))
			return fail(err, errlen,
				    "%s: value contains a control character",
				    vars[i].name);
		*slot = strdup(v);
		if (!*slot)
			return -ENOMEM;
		/* Meant for the gateway, but never for a log line. */
		if (vars[i].secret && log_secret_add(v, strlen(v)) == -ENOMEM)
			return -ENOMEM;
	}
	if (dev && parse_bool(dev, &cfg->openclaw.dev_mode) < 0)
		return fail(err, errlen,
			    "OPENCLAW_DEV_MODE: '%s': expected true or false",
			    dev);
	cfg->openclaw.dev_mode_set = dev != NULL;
	return check_openclaw(&cfg->openclaw, err, errlen);
}

static int parse_core(struct config *cfg, const struct env *e, char *err,
		      size_t errlen)
{
	unsigned long long v;
	const char *s;
	const char *why;
	int r;

	s = env_get(e, "TENANT_LOG_FORMAT");
	if (s && log_format_parse(s, &cfg->log_format) < 0)
		return fail(err, errlen,
			    "TENANT_LOG_FORMAT: '%s': expected text or json",
			    s);
	cfg->log_level = LOG_LEVEL_INFO;
	s = env_get(e, "TENANT_LOG_LEVEL");
	if (s && log_level_parse(s, &cfg->log_level) < 0)
		return fail(err, errlen,
			    "TENANT_LOG_LEVEL: '%s': expected debug, info, "
			    "warn or error",
			    s);
	if (cfg->cli.verbosity > 0)
		cfg->log_level = LOG_LEVEL_DEBUG;

	s = env_get(e, "OPENCLAW_STATE_DIR");
	r = parse_local_dir("OPENCLAW_STATE_DIR", s ? s : DEFAULT_STATE_DIR,
			    &cfg->state_dir, err, errlen);
	if (r < 0)
		return r;
	if (strcmp(cfg->state_dir, "/") == 0)
		return fail(err, errlen,
			    "OPENCLAW_STATE_DIR: '/' cannot be the data "
			    "directory");

	r = env_uint(e, "TENANT_GATEWAY_PORT", DEFAULT_GATEWAY_PORT, 1, 65535,
		     &v, err, errlen);
	if (r < 0)
		return r;
	cfg->gateway_port = (uint16_t)v;

	s = env_get(e, "TENANT_HEALTH_LISTEN");
	if (dup_env(e, "TENANT_HEALTH_LISTEN", DEFAULT_HEALTH_LISTEN,
		    &cfg->health_listen) < 0)
		return -ENOMEM;
	if (config_listen_parse(cfg->health_listen, &cfg->health_addr,
				&cfg->health_addrlen, &why) < 0)
		return fail(err, errlen, "TENANT_HEALTH_LISTEN: '%s': %s",
			    cfg->health_listen, why);
	if (ntohs(((struct sockaddr_in *)&cfg->health_addr)->sin_port) ==
	    cfg->gateway_port)
		return fail(err, errlen,
			    "TENANT_HEALTH_LISTEN: '%s': port %u is the "
			    "gateway's (TENANT_GATEWAY_PORT)",
			    cfg->health_listen, cfg->gateway_port);

	s = env_get(e, "TENANT_RESTART");
	cfg->restart = cfg->tini_mode ? RESTART_NEVER : RESTART_ON_FAILURE;
	if (s) {
		if (strcmp(s, "always") == 0)
			cfg->restart = RESTART_ALWAYS;
		else if (strcmp(s, "on-failure") == 0)
			cfg->restart = RESTART_ON_FAILURE;
		else if (strcmp(s, "never") == 0)
			cfg->restart = RESTART_NEVER;
		else
			return fail(err, errlen,
				    "TENANT_RESTART: '%s': expected always, "
				    "on-failure or never",
				    s);
	}
	r = env_uint(e, "TENANT_MAX_RESTARTS", 10, 0, 10000, &v, err, errlen);
	if (r < 0)
		return r;
	cfg->max_restarts = (unsigned)v;
	/*
	 * The cap of the gateway's restart backoff. At least 1 s: s6's rule
	 * of one second between spawns keeps a crashing gateway from
	 * spinning PID 1. At most an hour: longer is a tenant that looks
	 * dead without saying so (TENANT_RESTART=never says it).
	 */
	r = env_duration(e, "TENANT_RESTART_BACKOFF_MAX", "60s", false,
			 RESTART_BACKOFF_MAX_LIMIT_MS,
			 &cfg->restart_backoff_max_ms, err, errlen);
	if (r < 0)
		return r;
	if (cfg->restart_backoff_max_ms < RESTART_BACKOFF_MIN_MS)
		return fail(err, errlen,
			    "TENANT_RESTART_BACKOFF_MAX: '%s': shorter than "
			    "the minimum 1s (restarts are at least 1 s apart)",
			    env_get(e, "TENANT_RESTART_BACKOFF_MAX"));

	r = env_duration(e, "TENANT_STOP_TIMEOUT", "10s", true, 3600000,
			 &cfg->stop_timeout_ms, err, errlen);
	if (r < 0)
		return r;
	r = env_duration(e, "TENANT_FLUSH_TIMEOUT", "20s", false, 3600000,
			 &cfg->flush_timeout_ms, err, errlen);
	if (r < 0)
		return r;
	r = env_duration(e, "SANDBOX_SLEEP_AFTER", "1h", true, DURATION_MAX_MS,
			 &cfg->sleep_after_ms, err, errlen);
	if (r < 0)
		return r;
	if (cfg->sleep_after_ms == 0)
		return fail(err, errlen,
			    "SANDBOX_SLEEP_AFTER: '0': use 'never' to disable "
			    "sleeping");

	s = env_get(e, "TENANT_POLICY");
	cfg->policy_explicit = s != NULL;
	if (s && (s[0] != '/' || has_control(s)))
		return fail(err, errlen,
			    "TENANT_POLICY: '%s': must be an absolute path", s);
	if (dup_env(e, "TENANT_POLICY", DEFAULT_POLICY, &cfg->policy_path) < 0)
		return -ENOMEM;

	s = env_get(e, "TENANT_GATEWAY_USER");
	if (s) {
		if (has_control(s) || strchr(s, ' '))
			return fail(
			    err, errlen,
			    "TENANT_GATEWAY_USER: '%s': expected a user "
			    "name or uid[:gid]",
			    s);
		cfg->gateway_user = strdup(s);
		if (!cfg->gateway_user)
			return -ENOMEM;
	}
	return 0;
}

static int parse_command(struct config *cfg, const struct env *e, char *err,
			 size_t errlen)
{
	const char *s = env_get(e, "TENANT_GATEWAY_CMD");
	char why[256];
	size_t n = 0;

	if (cfg->tini_mode) {
		char **v = NULL;
		for (char **p = cfg->cli.command; *p; p++) {
			char *d = strdup(*p);
			if (!d || strv_push(&v, &n, d) < 0) {
				free(d);
				config_strv_free(v);
				return -ENOMEM;
			}
		}
		cfg->gateway_argv = v;
		return 0;
	}
	cfg->gateway_cmd_set = s != NULL;
	cfg->gateway_argv = config_expand_words(
	    cfg, e->envp, s ? s : DEFAULT_GATEWAY_CMD, why, sizeof(why));
	if (!cfg->gateway_argv)
		return errno == ENOMEM && strcmp(why, "out of memory") == 0
			   ? -ENOMEM
			   : fail(err, errlen, "TENANT_GATEWAY_CMD: %s", why);
	return 0;
}

/*
 * Remove the secret variables from the environment. unsetenv() only drops
 * the pointer from environ; the bytes stay in the initial environment block
 * on the stack, which is what /proc/PID/environ shows. So the entry itself
 * is wiped, in place, after it is unlinked.
 */
static void scrub_environment(void)
{
	extern char **environ;
	bool again = true;

	while (again) {
		again = false;
		for (char **p = environ; p && *p; p++) {
			char *entry = *p;
			char *eq = strchr(entry, '=');
			char name[256];
			size_t nl;

			if (!eq || (nl = (size_t)(eq - entry)) >= sizeof(name))
				continue;
			memcpy(name, entry, nl);
			name[nl] = '\0';
			if (!config_is_secret_var(name))
				continue;
			(void)unsetenv(name);
			explicit_bzero(entry, strlen(entry));
			again = true; /* environ changed under us */
			break;
		}
	}
}

int config_load(struct config *cfg, char **envp, bool scrub, char *err,
		size_t errlen)
{
	struct env e = {.envp = envp};
	int r;

	err[0] = '\0';
	cfg->tini_mode = cfg->cli.command != NULL;
	/* Secrets first, so that a later error cannot leave them behind. */
	r = parse_keys(cfg, &e, err, errlen);
	if (r == 0)
		r = parse_core(cfg, &e, err, errlen);
	if (r == 0)
		r = parse_sync(cfg, &e, err, errlen);
	if (r == 0)
		r = parse_openclaw(cfg, &e, err, errlen);
	if (r == 0)
		r = parse_command(cfg, &e, err, errlen);
	if (scrub)
		scrub_environment();
	if (r == -ENOMEM && !err[0])
		(void)snprintf(err, errlen, "out of memory");
	return r;
}

void config_fini(struct config *cfg)
{
	struct sync_config *s = &cfg->sync;
	char **strs[] = {
	    &cfg->state_dir,	&cfg->gateway_user, &cfg->health_listen,
	    &cfg->policy_path,	&s->endpoint,	    &s->region,
	    &s->bucket,		&s->prefix,	    &s->access_key_id,
	    &s->file_root,	&cfg->api_key_file, &cfg->api_key_env,
	    &cfg->api_key_salt,
	};

	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	for (size_t i = 0; i < s->npaths; i++) {
		free(s->paths[i].local);
		free(s->paths[i].remote);
	}
	free(s->paths);
	s->paths = NULL;
	s->npaths = 0;
	config_strv_free(s->excludes);
	s->excludes = NULL;
	secret_free(&s->secret_access_key);
	secret_free(&s->session_token);
	free(s->instance_id);
	s->instance_id = NULL;
	free(s->cred_files.key_id);
	free(s->cred_files.secret);
	free(s->cred_files.token);
	free(s->cred_files.shared);
	free(s->cred_files.profile);
	memset(&s->cred_files, 0, sizeof(s->cred_files));
	secret_free(&cfg->encryption_secret);
	config_strv_free(cfg->gateway_argv);
	cfg->gateway_argv = NULL;
	{
		struct openclaw_env *o = &cfg->openclaw;
		char **oc[] = {
		    &o->gateway_token,
		    &o->allowed_origins,
		    &o->trusted_proxies,
		    &o->telegram_bot_token,
		    &o->telegram_dm_policy,
		    &o->telegram_dm_allow_from,
		    &o->discord_bot_token,
		    &o->discord_dm_policy,
		    &o->slack_bot_token,
		    &o->slack_app_token,
		    &o->anthropic_api_key,
		    &o->anthropic_base_url,
		    &o->openai_api_key,
		    &o->cf_ai_gateway_model,
		    &o->cloudflare_ai_gateway_api_key,
		    &o->cf_ai_gateway_account_id,
		    &o->cf_ai_gateway_gateway_id,
		};
		for (size_t i = 0; i < ARRAY_SIZE(oc); i++) {
			if (*oc[i])
				explicit_bzero(*oc[i], strlen(*oc[i]));
			free(*oc[i]);
			*oc[i] = NULL;
		}
	}
}

static const char *restart_name(enum restart_policy r)
{
	switch (r) {
	case RESTART_ALWAYS:
		return "always";
	case RESTART_ON_FAILURE:
		return "on-failure";
	case RESTART_NEVER:
		return "never";
	default:
		return "?";
	}
}

static const char *key_format_name(enum key_format f)
{
	switch (f) {
	case KEY_FORMAT_AUTO:
		return "auto";
	case KEY_FORMAT_V1:
		return "v1";
	case KEY_FORMAT_POECLAW:
		return "poeclaw";
	case KEY_FORMAT_PBKDF2:
		return "pbkdf2";
	default:
		return "?";
	}
}

int config_print(const struct config *cfg, int fd)
{
	const struct sync_config *s = &cfg->sync;
	char d1[32], d2[32], d3[32], d4[32], d5[32], d6[32];
	FILE *f;
	int fd2 = dup(fd);

	if (fd2 < 0)
		return -errno;
	f = fdopen(fd2, "w");
	if (!f) {
		(void)close(fd2);
		return -errno;
	}
	config_duration_format(cfg->stop_timeout_ms, d1, sizeof(d1));
	config_duration_format(cfg->flush_timeout_ms, d2, sizeof(d2));
	config_duration_format(cfg->sleep_after_ms, d3, sizeof(d3));
	config_duration_format(s->debounce_ms, d4, sizeof(d4));
	fprintf(f, "mode=%s\n", cfg->tini_mode ? "tini" : "gateway");
	fprintf(f, "OPENCLAW_STATE_DIR=%s\n", cfg->state_dir);
	fprintf(f, "TENANT_GATEWAY_CMD=");
	for (char **p = cfg->gateway_argv; p && *p; p++)
		fprintf(f, "%s%s", p == cfg->gateway_argv ? "" : " ", *p);
	fprintf(f, "\nTENANT_GATEWAY_USER=%s\n",
		cfg->gateway_user ? cfg->gateway_user : "(unchanged)");
	fprintf(f, "TENANT_GATEWAY_PORT=%u\n", cfg->gateway_port);
	fprintf(f, "TENANT_HEALTH_LISTEN=%s\n", cfg->health_listen);
	fprintf(f, "TENANT_RESTART=%s\n", restart_name(cfg->restart));
	fprintf(f, "TENANT_MAX_RESTARTS=%u\n", cfg->max_restarts);
	config_duration_format(cfg->restart_backoff_max_ms, d5, sizeof(d5));
	fprintf(f, "TENANT_RESTART_BACKOFF_MAX=%s\n", d5);
	fprintf(f, "TENANT_STOP_TIMEOUT=%s\n", d1);
	fprintf(f, "TENANT_FLUSH_TIMEOUT=%s\n", d2);
	fprintf(f, "SANDBOX_SLEEP_AFTER=%s\n", d3);
	fprintf(f, "TENANT_POLICY=%s%s\n", cfg->policy_path,
		cfg->policy_explicit ? "" : " (default path)");
	fprintf(f, "TENANT_LOG_FORMAT=%s\n",
		cfg->log_format == LOG_FORMAT_JSON ? "json" : "text");
	switch (s->kind) {
	case SYNC_OFF:
		fprintf(f, "sync=off\n");
		break;
	case SYNC_FILE:
		fprintf(f, "sync=file://%s\n", s->file_root);
		break;
	case SYNC_S3:
		fprintf(f, "sync=s3://%s/%s (%s, endpoint %s, region %s%s)\n",
			s->bucket, s->prefix, s->is_r2 ? "R2" : "S3",
			s->endpoint ? s->endpoint : "AWS", s->region,
			s->path_style ? ", path-style" : "");
		fprintf(f, "sync.access_key_id=%s\n", s->access_key_id);
		fprintf(f, "sync.secret_access_key=(set)\n");
		break;
	default:
		break;
	}
	for (size_t i = 0; i < s->npaths; i++)
		fprintf(f, "TENANT_SYNC_PATHS[%zu]=%s=%s\n", i,
			s->paths[i].local, s->paths[i].remote);
	fprintf(f, "TENANT_SYNC_EXCLUDE=");
	for (char **p = s->excludes; p && *p; p++)
		fprintf(f, "%s%s", p == s->excludes ? "" : ",", *p);
	fprintf(f, "\nTENANT_SYNC_DEBOUNCE=%s\n", d4);
	fprintf(f, "TENANT_SYNC_CONCURRENCY=%u\n", s->concurrency);
	config_size_format(s->max_file_size, d6, sizeof(d6));
	fprintf(f, "TENANT_SYNC_MAX_FILE_SIZE=%s\n", d6);
	fprintf(f, "TENANT_SYNC_MAX_WATCHES=%u\n", s->max_watches);
	config_duration_format(s->rescan_interval_ms, d6, sizeof(d6));
	fprintf(f, "TENANT_SYNC_RESCAN_INTERVAL=%s\n", d6);
	if (s->lease_ms == DURATION_NEVER)
		(void)snprintf(d6, sizeof(d6), "off");
	else
		config_duration_format(s->lease_ms, d6, sizeof(d6));
	fprintf(f, "TENANT_SYNC_LEASE=%s\n", d6);
	fprintf(f, "ENCRYPTION_SECRET=%s\n",
		cfg->encryption_secret.value ? "(set)" : "(unset)");
	fprintf(f, "TENANT_API_KEY_FILE=%s\n",
		cfg->api_key_file ? cfg->api_key_file : "(default search)");
	fprintf(f, "TENANT_API_KEY_ENV=%s\n", cfg->api_key_env);
	fprintf(f, "TENANT_API_KEY_FORMAT=%s\n",
		key_format_name(cfg->api_key_format));
	fprintf(f, "OPENCLAW_GATEWAY_TOKEN=%s\n",
		cfg->openclaw.gateway_token ? "(set)" : "(unset)");
	if (fclose(f) != 0)
		return -errno;
	return 0;
}
