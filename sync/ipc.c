/* SPDX-License-Identifier: MIT */
#include "sync/ipc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "init/log.h"

/* TLV tags of the CONFIG payload. */
enum tag {
	T_KIND = 1,
	T_ENDPOINT,
	T_REGION,
	T_BUCKET,
	T_PREFIX,
	T_PATH_STYLE,
	T_IS_R2,
	T_KEY_ID,
	T_SECRET,
	T_TOKEN,
	T_FILE_ROOT,
	T_PATH_LOCAL, /* followed by its T_PATH_REMOTE */
	T_PATH_REMOTE,
	T_EXCLUDE,
	T_DEBOUNCE,
	T_CONCURRENCY,
	T_UID,
	T_GID,
	T_SKIP_RESTORE,
	T_LOG_LEVEL,
	T_LOG_FORMAT,
	T_MAX_FILE_SIZE,
	T_MAX_WATCHES,
	T_RESCAN_INTERVAL,
	T_LEASE,
	T_INSTANCE,
	T_CRED_R2,
	T_CRED_KEY_ID,
	T_CRED_SECRET,
	T_CRED_TOKEN,
	T_CRED_SHARED,
	T_CRED_PROFILE,
};

int ipc_send(int fd, uint32_t type, const void *payload, size_t len)
{
	struct iovec iov[2] = {
	    {.iov_base = &type, .iov_len = sizeof(type)},
	    {.iov_base = (void *)payload, .iov_len = len},
	};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	ssize_t n;

	if (len > IPC_MSG_MAX - sizeof(type))
		return -E2BIG;
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return 0;
}

int ipc_recv(int fd, uint32_t *type, void *buf, size_t cap, size_t *len)
{
	struct iovec iov[2] = {
	    {.iov_base = type, .iov_len = sizeof(*type)},
	    {.iov_base = buf, .iov_len = cap},
	};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t n;

	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0)
		return 0;
	if ((size_t)n < sizeof(*type) || (mh.msg_flags & MSG_TRUNC))
		return -EBADMSG;
	*len = (size_t)n - sizeof(*type);
	return 1;
}

/* ---- encoding ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void put_raw(struct wbuf *w, uint16_t tag, const void *v, size_t n)
{
	uint32_t n32 = (uint32_t)n;

	if (w->err)
		return;
	if (w->len + 6 + n > IPC_MSG_MAX - sizeof(uint32_t)) {
		w->err = -E2BIG;
		return;
	}
	if (w->len + 6 + n > w->cap) {
		size_t cap = (w->len + 6 + n) * 2;
		uint8_t *p = malloc(cap);

		if (!p) {
			w->err = -ENOMEM;
			return;
		}
		/* Copy by hand: the old buffer may hold the secret. */
		if (w->p) {
			memcpy(p, w->p, w->len);
			explicit_bzero(w->p, w->cap);
			free(w->p);
		}
		w->p = p;
		w->cap = cap;
	}
	memcpy(w->p + w->len, &tag, 2);
	memcpy(w->p + w->len + 2, &n32, 4);
	if (n)
		memcpy(w->p + w->len + 6, v, n);
	w->len += 6 + n;
}

static void put_str(struct wbuf *w, uint16_t tag, const char *s)
{
	if (s)
		put_raw(w, tag, s, strlen(s));
}

static void put_u64(struct wbuf *w, uint16_t tag, uint64_t v)
{
	put_raw(w, tag, &v, sizeof(v));
}

int ipc_config_encode(const struct sync_config *sc,
		      const struct agent_params *ap, uint8_t **out, size_t *len)
{
	struct wbuf w = {0};

	put_u64(&w, T_KIND, (uint64_t)sc->kind);
	put_str(&w, T_ENDPOINT, sc->endpoint);
	put_str(&w, T_REGION, sc->region);
	put_str(&w, T_BUCKET, sc->bucket);
	put_str(&w, T_PREFIX, sc->prefix);
	put_u64(&w, T_PATH_STYLE, sc->path_style);
	put_u64(&w, T_IS_R2, sc->is_r2);
	put_str(&w, T_KEY_ID, sc->access_key_id);
	if (sc->secret_access_key.value)
		put_raw(&w, T_SECRET, sc->secret_access_key.value,
			sc->secret_access_key.len);
	if (sc->session_token.value)
		put_raw(&w, T_TOKEN, sc->session_token.value,
			sc->session_token.len);
	put_str(&w, T_FILE_ROOT, sc->file_root);
	for (size_t i = 0; i < sc->npaths; i++) {
		put_str(&w, T_PATH_LOCAL, sc->paths[i].local);
		put_str(&w, T_PATH_REMOTE, sc->paths[i].remote);
	}
	for (char **e = sc->excludes; e && *e; e++)
		put_str(&w, T_EXCLUDE, *e);
	put_u64(&w, T_DEBOUNCE, sc->debounce_ms);
	put_u64(&w, T_CONCURRENCY, sc->concurrency);
	put_u64(&w, T_MAX_FILE_SIZE, sc->max_file_size);
	put_u64(&w, T_MAX_WATCHES, sc->max_watches);
	put_u64(&w, T_RESCAN_INTERVAL, sc->rescan_interval_ms);
	put_u64(&w, T_LEASE, sc->lease_ms);
	put_str(&w, T_INSTANCE, sc->instance_id);
	put_u64(&w, T_CRED_R2, sc->cred_files.r2);
	put_str(&w, T_CRED_KEY_ID, sc->cred_files.key_id);
	put_str(&w, T_CRED_SECRET, sc->cred_files.secret);
	put_str(&w, T_CRED_TOKEN, sc->cred_files.token);
	put_str(&w, T_CRED_SHARED, sc->cred_files.shared);
	put_str(&w, T_CRED_PROFILE, sc->cred_files.profile);
	put_u64(&w, T_UID, (uint64_t)ap->uid);
	put_u64(&w, T_GID, (uint64_t)ap->gid);
	put_u64(&w, T_SKIP_RESTORE, ap->skip_restore);
	put_u64(&w, T_LOG_LEVEL, (uint64_t)ap->log_level);
	put_u64(&w, T_LOG_FORMAT, (uint64_t)ap->log_format);
	if (w.err) {
		ipc_buf_free(w.p, w.cap);
		return w.err;
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

void ipc_buf_free(uint8_t *buf, size_t len)
{
	if (!buf)
		return;
	explicit_bzero(buf, len);
	free(buf);
}

/* ---- decoding ---- */

static int get_str(const uint8_t *v, size_t n, char **out)
{
	if (memchr(v, '\0', n))
		return -EBADMSG;
	free(*out);
	*out = strndup((const char *)v, n);
	return *out ? 0 : -ENOMEM;
}

static int get_u64(const uint8_t *v, size_t n, uint64_t *out)
{
	if (n != sizeof(*out))
		return -EBADMSG;
	memcpy(out, v, sizeof(*out));
	return 0;
}

static int get_secret(const uint8_t *v, size_t n, struct secret *s)
{
	secret_free(s);
	s->value = malloc(n + 1);
	if (!s->value)
		return -ENOMEM;
	memcpy(s->value, v, n);
	s->value[n] = '\0';
	s->len = n;
	return log_secret_add(s->value, n) == -ENOMEM ? -ENOMEM : 0;
}

static int push_exclude(struct sync_config *sc, size_t *n, const uint8_t *v,
			size_t len)
{
	char **e = realloc(sc->excludes, (*n + 2) * sizeof(*e));

	if (!e)
		return -ENOMEM;
	sc->excludes = e;
	e[*n] = NULL;
	e[*n + 1] = NULL;
	if (get_str(v, len, &e[*n]) < 0)
		return e[*n] ? -EBADMSG : -ENOMEM;
	(*n)++;
	return 0;
}

static int push_path(struct sync_config *sc, const uint8_t *v, size_t len)
{
	struct sync_path *p = realloc(sc->paths, (sc->npaths + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	sc->paths = p;
	p[sc->npaths].local = NULL;
	p[sc->npaths].remote = NULL;
	sc->npaths++;
	return get_str(v, len, &p[sc->npaths - 1].local);
}

int ipc_config_decode(const uint8_t *buf, size_t len, struct sync_config *sc,
		      struct agent_params *ap)
{
	size_t off = 0, nex = 0;
	uint64_t u = 0;
	int r = 0;

	ap->uid = (uid_t)-1;
	ap->gid = (gid_t)-1;
	while (off < len && r == 0) {
		uint16_t tag;
		uint32_t n;
		const uint8_t *v;

		if (len - off < 6)
			return -EBADMSG;
		memcpy(&tag, buf + off, 2);
		memcpy(&n, buf + off + 2, 4);
		if (n > len - off - 6)
			return -EBADMSG;
		v = buf + off + 6;
		off += 6 + (size_t)n;
		switch ((enum tag)tag) {
		case T_KIND:
			r = get_u64(v, n, &u);
			if (r == 0 && u > SYNC_FILE)
				r = -EBADMSG;
			sc->kind = (enum sync_kind)u;
			break;
		case T_ENDPOINT:
			r = get_str(v, n, &sc->endpoint);
			break;
		case T_REGION:
			r = get_str(v, n, &sc->region);
			break;
		case T_BUCKET:
			r = get_str(v, n, &sc->bucket);
			break;
		case T_PREFIX:
			r = get_str(v, n, &sc->prefix);
			break;
		case T_PATH_STYLE:
			r = get_u64(v, n, &u);
			sc->path_style = u != 0;
			break;
		case T_IS_R2:
			r = get_u64(v, n, &u);
			sc->is_r2 = u != 0;
			break;
		case T_KEY_ID:
			r = get_str(v, n, &sc->access_key_id);
			break;
		case T_SECRET:
			r = get_secret(v, n, &sc->secret_access_key);
			break;
		case T_TOKEN:
			r = get_secret(v, n, &sc->session_token);
			break;
		case T_FILE_ROOT:
			r = get_str(v, n, &sc->file_root);
			break;
		case T_PATH_LOCAL:
			r = push_path(sc, v, n);
			break;
		case T_PATH_REMOTE:
			if (sc->npaths == 0 || sc->paths[sc->npaths - 1].remote)
				return -EBADMSG;
			r = get_str(v, n, &sc->paths[sc->npaths - 1].remote);
			break;
		case T_EXCLUDE:
			r = push_exclude(sc, &nex, v, n);
			break;
		case T_DEBOUNCE:
			r = get_u64(v, n, &sc->debounce_ms);
			break;
		case T_CONCURRENCY:
			r = get_u64(v, n, &u);
			sc->concurrency = u == 0 || u > 1024 ? 1 : (unsigned)u;
			break;
		case T_MAX_FILE_SIZE:
			r = get_u64(v, n, &sc->max_file_size);
			break;
		case T_MAX_WATCHES:
			r = get_u64(v, n, &u);
			sc->max_watches =
			    u == 0 || u > 1000000 ? 1 : (unsigned)u;
			break;
		case T_RESCAN_INTERVAL:
			r = get_u64(v, n, &u);
			sc->rescan_interval_ms = u < 1000 ? 1000 : u;
			break;
		case T_LEASE:
			r = get_u64(v, n, &sc->lease_ms);
			break;
		case T_INSTANCE:
			r = get_str(v, n, &sc->instance_id);
			break;
		case T_CRED_R2:
			r = get_u64(v, n, &u);
			sc->cred_files.r2 = u != 0;
			break;
		case T_CRED_KEY_ID:
			r = get_str(v, n, &sc->cred_files.key_id);
			break;
		case T_CRED_SECRET:
			r = get_str(v, n, &sc->cred_files.secret);
			break;
		case T_CRED_TOKEN:
			r = get_str(v, n, &sc->cred_files.token);
			break;
		case T_CRED_SHARED:
			r = get_str(v, n, &sc->cred_files.shared);
			break;
		case T_CRED_PROFILE:
			r = get_str(v, n, &sc->cred_files.profile);
			break;
		case T_UID:
			r = get_u64(v, n, &u);
			ap->uid = (uid_t)u;
			break;
		case T_GID:
			r = get_u64(v, n, &u);
			ap->gid = (gid_t)u;
			break;
		case T_SKIP_RESTORE:
			r = get_u64(v, n, &u);
			ap->skip_restore = u != 0;
			break;
		case T_LOG_LEVEL:
			r = get_u64(v, n, &u);
			ap->log_level = (int)u;
			break;
		case T_LOG_FORMAT:
			r = get_u64(v, n, &u);
			ap->log_format = (int)u;
			break;
		default:
			return -EBADMSG;
		}
	}
	if (r < 0)
		return r;
	for (size_t i = 0; i < sc->npaths; i++)
		if (!sc->paths[i].local || !sc->paths[i].remote)
			return -EBADMSG;
	if (!sc->excludes) {
		sc->excludes = calloc(1, sizeof(char *));
		if (!sc->excludes)
			return -ENOMEM;
	}
	if (sc->npaths == 0)
		return -EBADMSG;
	return 0;
}

void ipc_sync_config_fini(struct sync_config *sc)
{
	char **strs[] = {&sc->endpoint, &sc->region,	    &sc->bucket,
			 &sc->prefix,	&sc->access_key_id, &sc->file_root};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	for (size_t i = 0; i < sc->npaths; i++) {
		free(sc->paths[i].local);
		free(sc->paths[i].remote);
	}
	free(sc->paths);
	sc->paths = NULL;
	sc->npaths = 0;
	config_strv_free(sc->excludes);
	sc->excludes = NULL;
	secret_free(&sc->secret_access_key);
	secret_free(&sc->session_token);
	free(sc->instance_id);
	sc->instance_id = NULL;
	free(sc->cred_files.key_id);
	free(sc->cred_files.secret);
	free(sc->cred_files.token);
	free(sc->cred_files.shared);
	free(sc->cred_files.profile);
	memset(&sc->cred_files, 0, sizeof(sc->cred_files));
}
