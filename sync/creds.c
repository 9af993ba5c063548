/* SPDX-License-Identifier: MIT */
#include "sync/creds.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"

/* A change is read this long after the last event (a write, a swap). */
#define SETTLE_MS 200
/* The largest credentials file read. */
#define SHARED_MAX (64 * 1024)

static const char *var(const struct sync_cred_files *f, const char *what)
{
	static char buf[64];

	(void)snprintf(buf, sizeof(buf), "%s_%s_FILE", f->r2 ? "R2" : "AWS",
		       what);
	return buf;
}

bool sync_creds_has_files(const struct sync_cred_files *f)
{
	return f->key_id || f->secret || f->token || f->shared;
}

/* ---- the AWS CLI's shared credentials file ---- */

struct shared {
	const char *profile;
	bool seen; /* the profile's section */
	char *key_id;
	struct secret secret;
	struct secret token;
	int err;
};

static int shared_cb(void *user, const char *section, const char *name,
		     const char *value)
{
	struct shared *s = user;
	int r = 0;

	if (strcmp(section, s->profile) != 0)
		return 1;
	s->seen = true;
	if (strcmp(name, "aws_access_key_id") == 0) {
		free(s->key_id);
		s->key_id = strdup(value);
		r = s->key_id ? 0 : -ENOMEM;
	} else if (strcmp(name, "aws_secret_access_key") == 0) {
		secret_free(&s->secret);
		r = secret_set_value(&s->secret, value);
	} else if (strcmp(name, "aws_session_token") == 0) {
		secret_free(&s->token);
		r = secret_set_value(&s->token, value);
	}
	if (r < 0)
		s->err = r;
	return r < 0 ? 0 : 1;
}

static int read_shared(const struct sync_cred_files *f, struct shared *s,
		       char *err, size_t errlen)
{
	_cleanup_fclose_ FILE *fp = fopen(f->shared, "re");
	_cleanup_free_ char *text = NULL;
	size_t n;
	int line;

	if (!fp) {
		(void)snprintf(err, errlen,
			       "AWS_SHARED_CREDENTIALS_FILE: unable to open "
			       "'%s': %s",
			       f->shared, strerror(errno));
		return -EINVAL;
	}
	text = malloc(SHARED_MAX + 1);
	if (!text)
		return -ENOMEM;
	n = fread(text, 1, SHARED_MAX + 1, fp);
	if (n > SHARED_MAX) {
		(void)snprintf(err, errlen,
			       "AWS_SHARED_CREDENTIALS_FILE: '%s' is larger "
			       "than %d bytes",
			       f->shared, SHARED_MAX);
		return -EINVAL;
	}
	text[n] = '\0';
	line = ini_parse_string(text, shared_cb, s);
	explicit_bzero(text, n);
	if (s->err)
		return s->err;
	if (line != 0) {
		(void)snprintf(err, errlen,
			       "AWS_SHARED_CREDENTIALS_FILE: %s:%d: not an "
			       "INI line",
			       f->shared, line);
		return -EINVAL;
	}
	if (!s->seen || !s->key_id || !s->secret.value) {
		(void)snprintf(err, errlen,
			       "AWS_SHARED_CREDENTIALS_FILE: '%s' has no "
			       "profile [%s] with aws_access_key_id and "
			       "aws_secret_access_key (AWS_PROFILE)",
			       f->shared, s->profile);
		return -EINVAL;
	}
	return 0;
}

int sync_creds_read(const struct sync_cred_files *f, char **key_id,
		    struct secret *secret, struct secret *token, char *err,
		    size_t errlen)
{
	struct shared s = {.profile = f->profile ? f->profile : "default"};
	struct secret id = {NULL, 0}, sk = {NULL, 0}, tok = {NULL, 0};
	int r = 0;

	if (f->shared)
		r = read_shared(f, &s, err, errlen);
	if (r == 0 && f->key_id)
		r = config_secret_file_read(var(f, "ACCESS_KEY_ID"), f->key_id,
					    &id, err, errlen);
	if (r == 0 && f->secret)
		r = config_secret_file_read(var(f, "SECRET_ACCESS_KEY"),
					    f->secret, &sk, err, errlen);
	if (r == 0 && f->token)
		r = config_secret_file_read("AWS_SESSION_TOKEN_FILE", f->token,
					    &tok, err, errlen);
	if (r == 0) {
		char *nid = id.value   ? strdup(id.value)
			    : s.key_id ? strdup(s.key_id)
				       : NULL;

		if ((id.value || s.key_id) && !nid) {
			r = -ENOMEM;
		} else if (nid) {
			free(*key_id);
			*key_id = nid;
		}
	}
	if (r == 0 && (sk.value || s.secret.value)) {
		secret_free(secret);
		*secret = sk.value ? sk : s.secret;
		if (sk.value)
			sk.value = NULL;
		else
			s.secret.value = NULL;
	}
	if (r == 0 && (tok.value || s.token.value)) {
		secret_free(token);
		*token = tok.value ? tok : s.token;
		if (tok.value)
			tok.value = NULL;
		else
			s.token.value = NULL;
	}
	secret_free(&id);
	secret_free(&sk);
	secret_free(&tok);
	free(s.key_id);
	secret_free(&s.secret);
	secret_free(&s.token);
	return r;
}

/* ---- watching ---- */

struct creds_watch {
	struct loop *loop;
	const struct sync_cred_files *f;
	int fd;
	struct loop_timer *timer;
	char *key_id;
	struct secret secret;
	struct secret token;
	void (*changed)(void *ctx, const char *key_id,
			const struct secret *secret,
			const struct secret *token);
	void *ctx;
};

static bool same(const struct secret *a, const struct secret *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->value, b->value, a->len) == 0);
}

static void settle_cb(void *ctx)
{
	struct creds_watch *w = ctx;
	char *id = w->key_id ? strdup(w->key_id) : NULL;
	struct secret sk = {NULL, 0}, tok = {NULL, 0};
	char err[CONFIG_ERR_MAX];

	if (w->key_id && !id)
		return;
	if (w->secret.value && secret_set_value(&sk, w->secret.value) < 0)
		goto out;
	if (w->token.value && secret_set_value(&tok, w->token.value) < 0)
		goto out;
	if (sync_creds_read(w->f, &id, &sk, &tok, err, sizeof(err)) < 0) {
		/* Half written, or gone for a moment: the old ones stay. */
		log_warn("sync: storage credentials not reloaded: %s", err);
		goto out;
	}
	if (id && w->key_id && strcmp(id, w->key_id) == 0 &&
	    same(&sk, &w->secret) && same(&tok, &w->token))
		goto out;
	log_info("sync: storage credentials changed in their files; used "
		 "from now on");
	free(w->key_id);
	w->key_id = id;
	id = NULL;
	secret_free(&w->secret);
	w->secret = sk;
	sk.value = NULL;
	secret_free(&w->token);
	w->token = tok;
	tok.value = NULL;
	w->changed(w->ctx, w->key_id, &w->secret, &w->token);
out:
	free(id);
	secret_free(&sk);
	secret_free(&tok);
}

static void inotify_cb(void *ctx, int fd, uint32_t events)
{
	struct creds_watch *w = ctx;
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));

	(void)events;
	/*
	 * Any change in a directory holding one of the files: the swapped
	 * ..data link of a Kubernetes secret does not name the file.
	 */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	loop_timer_arm(w->timer, SETTLE_MS);
}

/* Watch the directory of path (once per directory is enough). */
static void watch_dir_of(struct creds_watch *w, const char *path)
{
	_cleanup_free_ char *dir = path ? strdup(path) : NULL;
	char *slash;

	if (!dir)
		return;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		(void)strcpy(dir, ".");
	if (inotify_add_watch(w->fd, dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
				  IN_DELETE | IN_ATTRIB | IN_MOVE_SELF) < 0)
		log_warn_errno(errno,
			       "sync: unable to watch %s for new storage "
			       "credentials",
			       dir);
}

struct creds_watch *creds_watch_new(
    struct loop *loop, const struct sync_cred_files *f, const char *key_id,
    const struct secret *secret, const struct secret *token,
    void (*changed)(void *ctx, const char *key_id, const struct secret *secret,
		    const struct secret *token),
    void *ctx)
{
	struct creds_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->loop = loop;
	w->f = f;
	w->changed = changed;
	w->ctx = ctx;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->timer = loop_timer_new(loop, settle_cb, w);
	if (w->fd < 0 || !w->timer ||
	    (key_id && !(w->key_id = strdup(key_id))) ||
	    (secret->value &&
	     secret_set_value(&w->secret, secret->value) < 0) ||
	    (token->value && secret_set_value(&w->token, token->value) < 0) ||
	    loop_fd_add(loop, w->fd, EPOLLIN, inotify_cb, w) < 0) {
		creds_watch_free(w);
		errno = ENOMEM;
		return NULL;
	}
	watch_dir_of(w, f->key_id);
	watch_dir_of(w, f->secret);
	watch_dir_of(w, f->token);
	watch_dir_of(w, f->shared);
	return w;
}

void creds_watch_free(struct creds_watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		(void)loop_fd_del(w->loop, w->fd);
		(void)close(w->fd);
	}
	loop_timer_free(w->timer);
	free(w->key_id);
	secret_free(&w->secret);
	secret_free(&w->token);
	free(w);
}
