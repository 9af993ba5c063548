/* SPDX-License-Identifier: MIT */
/* Unit tests for init/config.c: parsers and config_load over private envs. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init/config.h"
#include "tests/tap.h"

static void test_sizes(void)
{
	static const struct {
		const char *in;
		uint64_t bytes;
	} good[] = {
	    {"0", 0},
	    {"100", 100},
	    {"4G", (uint64_t)4 << 30},
	    {"4GiB", (uint64_t)4 << 30},
	    {"512m", (uint64_t)512 << 20},
	    {"512MB", (uint64_t)512 << 20},
	    {"1k", 1024},
	    {"5T", (uint64_t)5 << 40},
	};
	static const char *const bad[] = {
	    "",
	    "G",
	    "-1",
	    "1X",
	    "1 G",
	    "1GiBs",
	    "1.5G",
	    "99999999999999999999",
	    "17179869184T",
	};
	uint64_t v;
	const char *why;
	char buf[32];

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		ok(config_size_parse(good[i].in, &v, &why) == 0 &&
		       v == good[i].bytes,
		   "size '%s' parses", good[i].in);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		why = NULL;
		ok(config_size_parse(bad[i], &v, &why) < 0 && why,
		   "size '%s' refused (%s)", bad[i], why ? why : "no reason");
	}
	config_size_format((uint64_t)4 << 30, buf, sizeof(buf));
	is_str(buf, "4G", "format 4G");
	config_size_format((uint64_t)1536 << 20, buf, sizeof(buf));
	is_str(buf, "1536M", "format 1536M");
	config_size_format(1000, buf, sizeof(buf));
	is_str(buf, "1000", "format bytes");
}

static void test_durations(void)
{
	static const struct {
		const char *in;
		unsigned long long ms;
	} good[] = {
	    {"500ms", 500},   {"30s", 30000},	   {"10m", 600000},
	    {"1h", 3600000},  {"2h30m", 9000000},  {"45", 45000},
	    {"1.5", 1500},    {"1.5s", 1500},	   {"0", 0},
	    {"1m30s", 90000}, {"1h0m1s", 3601000}, {"0.001s", 1},
	};
	static const char *const bad[] = {
	    "",	    "abc", "-1s", "10x",  "1h1h", "s",	  "1.s", "1 s",
	    "10m5", "h1",  "1e3", "1,5s", "ms",	  "5min", "1.",
	};
	uint64_t ms;
	const char *why;
	char buf[32];

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		int r = config_duration_parse(good[i].in, false, &ms, &why);
		is_int(r, 0, "duration '%s' parses", good[i].in);
		is_int(ms, good[i].ms, "duration '%s' = %llu ms", good[i].in,
		       good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		why = NULL;
		int r = config_duration_parse(bad[i], true, &ms, &why);
		ok(r < 0 && why != NULL, "duration '%s' refused (%s)", bad[i],
		   why ? why : "no reason");
	}
	ok(config_duration_parse("never", false, &ms, &why) < 0,
	   "'never' refused where not allowed");
	ok(config_duration_parse("never", true, &ms, &why) == 0 &&
	       ms == DURATION_NEVER,
	   "'never' accepted where allowed");
	ok(config_duration_parse("99999999999999999999h", false, &ms, &why) ==
	       -ERANGE,
	   "an overflowing duration is out of range, not wrapped");
	config_duration_format(9000000, buf, sizeof(buf));
	is_str(buf, "2h30m", "format 2h30m");
	config_duration_format(500, buf, sizeof(buf));
	is_str(buf, "500ms", "format 500ms");
	config_duration_format(0, buf, sizeof(buf));
	is_str(buf, "0s", "format 0s");
	config_duration_format(DURATION_NEVER, buf, sizeof(buf));
	is_str(buf, "never", "format never");
}

static const char *lookup(const char *name, void *ctx, bool *refuse)
{
	(void)ctx;
	if (strcmp(name, "SECRET_X") == 0) {
		*refuse = true;
		return NULL;
	}
	if (strcmp(name, "A") == 0)
		return "alpha beta";
	if (strcmp(name, "EMPTY") == 0)
		return "";
	return NULL;
}

static void check_split(const char *in, const char *const *want)
{
	char err[128];
	char **v = config_words_split(in, lookup, NULL, err, sizeof(err));
	size_t i = 0;
	bool same = v != NULL;

	for (; same && want[i]; i++)
		same = v[i] && strcmp(v[i], want[i]) == 0;
	same = same && v[i] == NULL;
	ok(same, "split [%s]", in);
	if (!same && v)
		for (i = 0; v[i]; i++)
			diag("  word %zu: '%s'", i, v[i]);
	config_strv_free(v);
}

static void test_split(void)
{
	char err[128];

	check_split("a b  c", (const char *const[]){"a", "b", "c", NULL});
	check_split("'a b' \"c d\"", (const char *const[]){"a b", "c d", NULL});
	check_split("x$A y", (const char *const[]){"xalpha beta", "y", NULL});
	check_split("\"${A}\"", (const char *const[]){"alpha beta", NULL});
	check_split("'$A'", (const char *const[]){"$A", NULL});
	check_split("a\\ b", (const char *const[]){"a b", NULL});
	check_split("\"a\\\"b\"", (const char *const[]){"a\"b", NULL});
	check_split("x $EMPTY y", (const char *const[]){"x", "y", NULL});
	check_split("x \"$EMPTY\" y",
		    (const char *const[]){"x", "", "y", NULL});
	check_split("x $UNSET y", (const char *const[]){"x", "y", NULL});
	check_split("cost $5", (const char *const[]){"cost", "$5", NULL});
	check_split("''", (const char *const[]){"", NULL});

	static const char *const bad[] = {
	    "'unterminated", "\"unterminated",	"a | b", "a; b",
	    "a && b",	     "a > f",		"`id`",	 "${A",
	    "${}",	     "trailing\\",	"",	 "   ",
	    "$SECRET_X",     "\"${SECRET_X}\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char **v =
		    config_words_split(bad[i], lookup, NULL, err, sizeof(err));
		ok(v == NULL && err[0], "split refuses [%s]: %s", bad[i], err);
		config_strv_free(v);
	}
}

static void test_listen(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

	ok(config_listen_parse("0.0.0.0:18790", &ss, &len, &why) == 0 &&
	       a4->sin_family == AF_INET && ntohs(a4->sin_port) == 18790,
	   "0.0.0.0:18790");
	ok(config_listen_parse(":80", &ss, &len, &why) == 0 &&
	       a4->sin_addr.s_addr == htonl(INADDR_ANY),
	   ":80 is all addresses");
	ok(config_listen_parse("localhost:1", &ss, &len, &why) == 0 &&
	       a4->sin_addr.s_addr == htonl(INADDR_LOOPBACK),
	   "localhost:1 is loopback");
	ok(config_listen_parse("[::1]:8080", &ss, &len, &why) == 0 &&
	       a6->sin6_family == AF_INET6 && ntohs(a6->sin6_port) == 8080,
	   "[::1]:8080");
	static const char *const bad[] = {
	    "18790", "1.2.3.4", "1.2.3.4:0", "1.2.3.4:65536", "x.y:1",
	    "[::1]", "[::1:80", "[zz]:80",   "1.2.3.4:-1",    "1.2.3.4:1a",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(config_listen_parse(bad[i], &ss, &len, &why) < 0,
		   "listen '%s' refused", bad[i]);
}

static void test_signals(void)
{
	is_int(config_signal_parse("TERM"), 15, "TERM");
	is_int(config_signal_parse("SIGKILL"), 9, "SIGKILL");
	is_int(config_signal_parse("sigusr1"), 10, "sigusr1");
	is_int(config_signal_parse("9"), 9, "9");
	ok(config_signal_parse("NOPE") < 0, "NOPE refused");
	ok(config_signal_parse("0") < 0, "0 refused");
	ok(config_signal_parse("999") < 0, "999 refused");
}

static void test_cli(void)
{
	struct cli cli;
	const char *what;
	char err[256];
	char *argv1[] = {"tenant-init", "-g", "-e", "143",     "-e",
			 "2",		"-v", "-p", "SIGKILL", "--",
			 "sleep",	"-x", NULL};
	char *argv2[] = {"tenant-init", "-e", "300", NULL};
	char *argv3[] = {"tenant-init", "cmd", "-g", NULL};

	is_int(config_cli_parse(&cli, 12, argv1, &what, err, sizeof(err)), 0,
	       "tini options parse");
	ok(cli.group_signals && cli.verbosity == 1 && cli.pdeathsig == 9,
	   "-g -v -p recorded");
	ok(config_is_success_code(&cli, 143) &&
	       config_is_success_code(&cli, 2) &&
	       !config_is_success_code(&cli, 0),
	   "-e codes recorded");
	ok(cli.command && strcmp(cli.command[0], "sleep") == 0 &&
	       strcmp(cli.command[1], "-x") == 0,
	   "the COMMAND keeps its own flags");
	ok(config_cli_parse(&cli, 3, argv2, &what, err, sizeof(err)) < 0,
	   "-e 300 refused: %s", err);
	is_int(config_cli_parse(&cli, 3, argv3, &what, err, sizeof(err)), 0,
	       "options after COMMAND belong to it");
	ok(!cli.group_signals && strcmp(cli.command[1], "-g") == 0,
	   "-g after COMMAND is the COMMAND's");
}

/*
 * Found by fuzz-config: a parse that stopped inside a cluster of flags
 * ("-hs" returns at -h) left getopt's position inside that argv, and
 * "optind = 1" does not reset it in glibc: the next parse went on reading
 * the old (by then freed) strings before its own.
 */
static void test_cli_restart(void)
{
	struct cli cli;
	const char *what;
	char err[256] = "";
	char *old = strdup("-hs");
	char *argv1[] = {"tenant-init", old, NULL};
	char *argv2[] = {"tenant-init", "-g", NULL};

	is_int(config_cli_parse(&cli, 2, argv1, &what, err, sizeof(err)), 1,
	       "-hs stops at -h");
	memcpy(old, "-xx", 4); /* what a reused buffer could hold */
	is_int(config_cli_parse(&cli, 2, argv2, &what, err, sizeof(err)), 0,
	       "a second parse starts afresh: %s", err);
	ok(cli.group_signals && !cli.subreaper,
	   "only the second command line counts");
	free(old);
}

/* Load a config from a private environment. */
static int load(struct config *cfg, char **envp, char *err)
{
	memset(cfg, 0, sizeof(*cfg));
	return config_load(cfg, envp, false, err, CONFIG_ERR_MAX);
}

static void test_load_defaults(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	char *env[] = {"PATH=/bin", NULL};

	is_int(load(&cfg, env, err), 0, "defaults load: %s", err);
	is_str(cfg.state_dir, "/data", "OPENCLAW_STATE_DIR default");
	is_int(cfg.gateway_port, 18789, "TENANT_GATEWAY_PORT default");
	is_int(cfg.restart, RESTART_ON_FAILURE, "gateway mode: on-failure");
	is_int(cfg.max_restarts, 10, "TENANT_MAX_RESTARTS default");
	is_int(cfg.restart_backoff_max_ms, 60000,
	       "TENANT_RESTART_BACKOFF_MAX default 60s");
	is_int(cfg.stop_timeout_ms, 10000, "stop timeout default 10s");
	is_int(cfg.flush_timeout_ms, 20000, "flush timeout default 20s");
	is_int(cfg.sleep_after_ms, 3600000, "sleep after default 1h");
	is_int(cfg.sync.kind, SYNC_OFF, "sync off by default");
	is_int(cfg.sync.npaths, 1, "one sync path by default");
	is_str(cfg.sync.paths[0].local, "/data", "default sync local dir");
	is_str(cfg.sync.paths[0].remote, "openclaw/", "default sync prefix");
	is_str(cfg.sync.excludes[0], "*.lock", "default excludes");
	is_int(cfg.sync.concurrency, 16, "concurrency default");
	is_int(cfg.sync.debounce_ms, 1000, "debounce default");
	ok(cfg.sync.max_file_size == (uint64_t)4 << 30,
	   "max file size default 4G");
	is_int(cfg.sync.max_watches, 8192, "max watches default");
	is_int(cfg.sync.rescan_interval_ms, 30000, "rescan interval default");
	ok(cfg.sync.lease_ms == 30000 &&
	       sync_config_lease_ms(&cfg.sync) == 30000,
	   "lease default 30s");
	is_str(cfg.api_key_env, "POE_API_KEY", "TENANT_API_KEY_ENV default");
	is_str(cfg.api_key_salt, "vultrino-salt", "salt default");
	is_str(cfg.gateway_argv[0], "openclaw", "default gateway command");
	is_str(cfg.gateway_argv[3], "18789", "default command's port");
	ok(!cfg.policy_explicit, "default policy path is not explicit");
	config_fini(&cfg);
	ok(cfg.state_dir == NULL && cfg.gateway_argv == NULL,
	   "config_fini releases everything");
}

static void test_load_sync(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	char *r2[] = {"R2_ACCESS_KEY_ID=AKID", "R2_SECRET_ACCESS_KEY=sk",
		      "CF_ACCOUNT_ID=acc1", "R2_USER_PREFIX=abc123", NULL};
	char *s3[] = {"TENANT_SYNC_URL=s3://my-bucket/tenants/t1",
		      "AWS_ACCESS_KEY_ID=id",
		      "AWS_SECRET_ACCESS_KEY=sk",
		      "AWS_ENDPOINT_URL=http://127.0.0.1:9000/",
		      "AWS_REGION=eu-west-1",
		      "R2_ACCESS_KEY_ID=ignored",
		      NULL};
	char *file[] = {"TENANT_SYNC_URL=file:///var/backup/",
			"TENANT_SYNC_PATHS=/data=openclaw,/home/x/=home/",
			"TENANT_SYNC_EXCLUDE=*.tmp, cache/**", NULL};

	is_int(load(&cfg, r2, err), 0, "R2 config loads: %s", err);
	ok(cfg.sync.kind == SYNC_S3 && cfg.sync.is_r2 && cfg.sync.path_style,
	   "R2 is S3, path-style");
	is_str(cfg.sync.endpoint, "https://acc1.r2.cloudflarestorage.com",
	       "R2 endpoint from CF_ACCOUNT_ID");
	is_str(cfg.sync.region, "auto", "R2 region auto");
	is_str(cfg.sync.bucket, "moltbot-data", "R2 default bucket");
	is_str(cfg.sync.prefix, "users/abc123/", "R2 tenant prefix");
	is_str(cfg.sync.secret_access_key.value, "sk", "R2 secret kept");
	config_fini(&cfg);
	ok(cfg.sync.secret_access_key.value == NULL, "secret released");

	is_int(load(&cfg, s3, err), 0, "S3 URL config loads: %s", err);
	ok(cfg.sync.kind == SYNC_S3 && !cfg.sync.is_r2,
	   "TENANT_SYNC_URL wins over R2_*");
	is_str(cfg.sync.bucket, "my-bucket", "bucket from URL");
	is_str(cfg.sync.prefix, "tenants/t1/", "prefix from URL, slash added");
	is_str(cfg.sync.endpoint, "http://127.0.0.1:9000", "endpoint trimmed");
	ok(cfg.sync.path_style, "an endpoint means path-style");
	is_str(cfg.sync.region, "eu-west-1", "AWS_REGION");
	config_fini(&cfg);

	is_int(load(&cfg, file, err), 0, "file config loads: %s", err);
	is_str(cfg.sync.file_root, "/var/backup", "file root trimmed");
	is_int(cfg.sync.npaths, 2, "two sync paths");
	is_str(cfg.sync.paths[0].remote, "openclaw/", "slash added to prefix");
	is_str(cfg.sync.paths[1].local, "/home/x", "local dir trimmed");
	is_str(cfg.sync.excludes[1], "cache/**", "exclude list trimmed");
	ok(cfg.sync.excludes[2] == NULL, "exclude list terminated");
	config_fini(&cfg);
}

/* Credentials from files: *_FILE and the AWS CLI's shared file. */
static void test_load_cred_files(void)
{
	char tmpl[] = "/tmp/ti-creds.XXXXXX";
	char *dir = mkdtemp(tmpl);
	char idf[256], skf[256], shf[256], e1[300], e2[300], e3[300];
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	FILE *f;

	if (!dir) {
		skip(6, "no temporary directory");
		return;
	}
	(void)snprintf(idf, sizeof(idf), "%s/id", dir);
	(void)snprintf(skf, sizeof(skf), "%s/sk", dir);
	(void)snprintf(shf, sizeof(shf), "%s/credentials", dir);
	if ((f = fopen(idf, "we"))) {
		fputs("AKIDFILE\n", f);
		fclose(f);
	}
	if ((f = fopen(skf, "we"))) {
		fputs("secret-from-file\n", f);
		fclose(f);
	}
	if ((f = fopen(shf, "we"))) {
		fputs("[default]\naws_access_key_id = D\n"
		      "aws_secret_access_key = dsk\n\n[t]\n"
		      "aws_access_key_id = T\naws_secret_access_key = tsk\n"
		      "aws_session_token = ttok\n",
		      f);
		fclose(f);
	}
	(void)snprintf(e1, sizeof(e1), "R2_ACCESS_KEY_ID_FILE=%s", idf);
	(void)snprintf(e2, sizeof(e2), "R2_SECRET_ACCESS_KEY_FILE=%s", skf);
	{
		char *env[] = {e1, e2, "CF_ACCOUNT_ID=acc1", NULL};
		ok(load(&cfg, env, err) == 0 && cfg.sync.is_r2 &&
		       strcmp(cfg.sync.access_key_id, "AKIDFILE") == 0 &&
		       strcmp(cfg.sync.secret_access_key.value,
			      "secret-from-file") == 0 &&
		       cfg.sync.cred_files.r2 &&
		       strcmp(cfg.sync.cred_files.secret, skf) == 0,
		   "R2_*_FILE: values read, paths kept (%s)", err);
		config_fini(&cfg);
	}
	(void)snprintf(e3, sizeof(e3), "AWS_SHARED_CREDENTIALS_FILE=%s", shf);
	{
		char *env[] = {"TENANT_SYNC_URL=s3://b-1/p", e3,
			       "AWS_PROFILE=t", NULL};
		ok(load(&cfg, env, err) == 0 &&
		       strcmp(cfg.sync.access_key_id, "T") == 0 &&
		       strcmp(cfg.sync.secret_access_key.value, "tsk") == 0 &&
		       strcmp(cfg.sync.session_token.value, "ttok") == 0,
		   "AWS_SHARED_CREDENTIALS_FILE with AWS_PROFILE (%s)", err);
		config_fini(&cfg);
	}
	{
		char *env[] = {"TENANT_SYNC_URL=s3://b-1/p", e3, NULL};
		ok(load(&cfg, env, err) == 0 &&
		       strcmp(cfg.sync.access_key_id, "D") == 0,
		   "... the default profile (%s)", err);
		config_fini(&cfg);
	}
	{
		char *env[] = {"TENANT_SYNC_URL=s3://b-1/p", e3,
			       "AWS_PROFILE=nope", NULL};
		ok(load(&cfg, env, err) < 0 &&
		       strstr(err, "AWS_SHARED_CREDENTIALS_FILE") &&
		       strstr(err, "[nope]"),
		   "a missing profile is named (%s)", err);
		config_fini(&cfg);
	}
	{
		char *env[] = {e1, e2, "R2_ACCESS_KEY_ID=also",
			       "CF_ACCOUNT_ID=acc1", NULL};
		ok(load(&cfg, env, err) < 0 &&
		       strstr(err, "R2_ACCESS_KEY_ID_FILE: set only one"),
		   "a variable and its file both: refused (%s)", err);
		config_fini(&cfg);
	}
	ok(config_is_secret_var("AWS_SECRET_ACCESS_KEY_FILE") &&
	       config_is_secret_var("AWS_SHARED_CREDENTIALS_FILE") &&
	       config_is_secret_var("R2_SECRET_ACCESS_KEY_FILE"),
	   "the files' variables never reach the gateway");
	(void)unlink(idf);
	(void)unlink(skf);
	(void)unlink(shf);
	(void)rmdir(dir);
}

static void test_load_errors(void)
{
	static const struct {
		const char *env[4];
		const char *var;
	} bad[] = {
	    {{"TENANT_RESTART=maybe"}, "TENANT_RESTART"},
	    {{"TENANT_GATEWAY_PORT=0"}, "TENANT_GATEWAY_PORT"},
	    {{"TENANT_SYNC_CONCURRENCY=abc"}, "TENANT_SYNC_CONCURRENCY"},
	    {{"TENANT_SYNC_MAX_FILE_SIZE=4X"}, "TENANT_SYNC_MAX_FILE_SIZE"},
	    {{"TENANT_SYNC_MAX_FILE_SIZE=0"}, "TENANT_SYNC_MAX_FILE_SIZE"},
	    {{"TENANT_SYNC_MAX_FILE_SIZE=6T"}, "TENANT_SYNC_MAX_FILE_SIZE"},
	    {{"TENANT_SYNC_MAX_WATCHES=0"}, "TENANT_SYNC_MAX_WATCHES"},
	    {{"TENANT_SYNC_RESCAN_INTERVAL=100ms"},
	     "TENANT_SYNC_RESCAN_INTERVAL"},
	    {{"TENANT_SYNC_RESCAN_INTERVAL=2h"}, "TENANT_SYNC_RESCAN_INTERVAL"},
	    {{"TENANT_SYNC_LEASE=2s"}, "TENANT_SYNC_LEASE"},
	    {{"TENANT_SYNC_LEASE=never"}, "TENANT_SYNC_LEASE"},
	    {{"TENANT_SYNC_URL=s3://b"}, "TENANT_SYNC_URL"},
	    {{"TENANT_SYNC_URL=s3://bucket", "AWS_ACCESS_KEY_ID=x"},
	     "AWS_SECRET_ACCESS_KEY"},
	    {{"TENANT_API_KEY_ENV=1BAD"}, "TENANT_API_KEY_ENV"},
	    {{"TENANT_API_KEY_ENV=TENANT_X"}, "TENANT_API_KEY_ENV"},
	    {{"OPENCLAW_STATE_DIR=/a/../b"}, "OPENCLAW_STATE_DIR"},
	    {{"TENANT_HEALTH_LISTEN=127.0.0.1:5000",
	      "TENANT_GATEWAY_PORT=5000"},
	     "TENANT_HEALTH_LISTEN"},
	    {{"OPENCLAW_GATEWAY_TOKEN=a\nb"}, "OPENCLAW_GATEWAY_TOKEN"},
	    {{"TENANT_RESTART_BACKOFF_MAX=soon"}, "TENANT_RESTART_BACKOFF_MAX"},
	    {{"TENANT_RESTART_BACKOFF_MAX=500ms"},
	     "TENANT_RESTART_BACKOFF_MAX"},
	    {{"TENANT_RESTART_BACKOFF_MAX=0"}, "TENANT_RESTART_BACKOFF_MAX"},
	    {{"TENANT_RESTART_BACKOFF_MAX=never"},
	     "TENANT_RESTART_BACKOFF_MAX"},
	    {{"TENANT_RESTART_BACKOFF_MAX=2h"}, "TENANT_RESTART_BACKOFF_MAX"},
	};
	struct config cfg;
	char err[CONFIG_ERR_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *env[5] = {0};
		for (int j = 0; j < 4 && bad[i].env[j]; j++)
			env[j] = (char *)bad[i].env[j];
		int r = load(&cfg, env, err);
		ok(r == -EINVAL && strstr(err, bad[i].var) != NULL,
		   "refused, naming %s: %s", bad[i].var, err);
		config_fini(&cfg);
	}
}

static void test_restart_backoff_max(void)
{
	static const struct {
		const char *v;
		uint64_t ms;
	} good[] = {{"1s", 1000},    {"2s", 2000},    {"1.5", 1500},
		    {"10m", 600000}, {"1h", 3600000}, {"", 60000}};
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	char buf[4096];
	int fds[2];
	ssize_t n;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		char var[64];
		char *env[] = {var, NULL};
		(void)snprintf(var, sizeof(var),
			       "TENANT_RESTART_BACKOFF_MAX=%s", good[i].v);
		is_int(load(&cfg, env, err), 0, "%s loads: %s", var, err);
		is_int(cfg.restart_backoff_max_ms, good[i].ms, "%s", var);
		config_fini(&cfg);
	}

	/* check-config prints it. */
	char *env[] = {"TENANT_RESTART_BACKOFF_MAX=90s", NULL};
	is_int(load(&cfg, env, err), 0, "90s loads: %s", err);
	if (pipe(fds) < 0) {
		ok(false, "pipe");
		config_fini(&cfg);
		return;
	}
	is_int(config_print(&cfg, fds[1]), 0, "config_print");
	(void)close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	(void)close(fds[0]);
	buf[n > 0 ? n : 0] = '\0';
	ok(strstr(buf, "\nTENANT_RESTART_BACKOFF_MAX=1m30s\n") != NULL,
	   "check-config prints TENANT_RESTART_BACKOFF_MAX=1m30s");
	config_fini(&cfg);
}

static void test_tini_mode(void)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	char *cmd[] = {"sleep", "1", NULL};
	char *env[] = {"TENANT_GATEWAY_CMD=ignored in tini mode", NULL};

	memset(&cfg, 0, sizeof(cfg));
	cfg.cli.command = cmd;
	is_int(config_load(&cfg, env, false, err, sizeof(err)), 0,
	       "tini mode loads");
	ok(cfg.tini_mode, "a COMMAND means tini mode");
	is_int(cfg.restart, RESTART_NEVER, "tini mode restarts never");
	is_str(cfg.gateway_argv[0], "sleep", "COMMAND is the gateway");
	config_fini(&cfg);
}

static void test_secret_vars(void)
{
	ok(config_is_secret_var("R2_SECRET_ACCESS_KEY"), "R2 secret");
	ok(config_is_secret_var("R2_BUCKET_NAME"), "all of R2_*");
	ok(config_is_secret_var("AWS_SECRET_ACCESS_KEY"), "AWS secret");
	ok(config_is_secret_var("ENCRYPTION_SECRET_FILE"), "ENCRYPTION_*");
	ok(!config_is_secret_var("POE_API_KEY"), "the gateway's key passes");
	ok(!config_is_secret_var("PATH"), "PATH passes");
}

int main(void)
{
	test_durations();
	test_sizes();
	test_split();
	test_listen();
	test_signals();
	test_cli();
	test_cli_restart();
	test_load_defaults();
	test_load_sync();
	test_load_errors();
	test_load_cred_files();
	test_restart_backoff_max();
	test_tini_mode();
	test_secret_vars();
	log_reset();
	return tap_done();
}
