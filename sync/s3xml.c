/* SPDX-License-Identifier: MIT */
#include "sync/s3xml.h"

#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * A small walker over expat: it keeps the path of element names (up to
 * WALK_DEPTH deep, by local name without namespace) and the text of the
 * innermost element, and reports each element's end.
 *
 * XML 1.0 forbids the C0 controls other than tab, newline and carriage
 * return anywhere in a document, even as a character reference. S3 asked
 * for encoding-type=url never sends one, but a server that ignores the
 * parameter sends keys raw, and one key holding such a byte would make
 * the whole page unreadable: the restore would retry that listing
 * forever. So before expat sees a chunk, each forbidden byte b is replaced
 * by the private-use character U+E000 + b (3 bytes), and its position in
 * the stream given to expat is queued. When expat reports text, the
 * characters found at queued positions are turned back into their byte:
 * the text holds the server's bytes (and the key is refused later as a
 * control character). Matching positions, not values, means that a
 * private-use character the server really sent, raw or as a reference, is
 * never mistaken for a substitute. Elsewhere (a tag name, between
 * attributes, before the root) the substitute is not allowed either, so
 * such a document stays malformed. A chunk without a forbidden byte goes
 * to expat unchanged. DEL (0x7f) and the C1 controls are legal XML and
 * pass as they are.
 */
#define WALK_DEPTH   6
#define NAME_MAX_LEN 48
#define SUBST_BUF    3072 /* substituted bytes handed to expat at once */

struct walk {
	XML_Parser xp;
	char names[WALK_DEPTH][NAME_MAX_LEN];
	int depth; /* may exceed WALK_DEPTH; deeper names are not kept */
	char text[S3_XML_TEXT_MAX + 1];
	size_t text_len;
	bool bad;
	void (*end)(struct walk *w, void *ctx);
	void *ctx;
	uint64_t fed; /* bytes given to expat since the document began */
	/*
	 * Positions (in what expat was given) of substitutes not yet passed
	 * by the parse, ascending, from subst[subst_head] to subst[subst_n].
	 */
	uint64_t *subst;
	size_t subst_head, subst_n, subst_cap;
	unsigned char sbuf[SUBST_BUF];
};

static bool xml_forbidden(unsigned char c)
{
	return c < 0x20 && c != '\t' && c != '\n' && c != '\r';
}

static bool is_subst(const XML_Char *s)
{
	return (unsigned char)s[0] == 0xee && (unsigned char)s[1] == 0x80 &&
	       ((unsigned char)s[2] & 0xe0) == 0x80;
}

static int subst_push(struct walk *w, uint64_t pos)
{
	if (w->subst_n == w->subst_cap && w->subst_head > 0) {
		memmove(w->subst, w->subst + w->subst_head,
			(w->subst_n - w->subst_head) * sizeof(*w->subst));
		w->subst_n -= w->subst_head;
		w->subst_head = 0;
	}
	if (w->subst_n == w->subst_cap) {
		size_t nc = w->subst_cap ? w->subst_cap * 2 : 64;
		uint64_t *ns = realloc(w->subst, nc * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		w->subst = ns;
		w->subst_cap = nc;
	}
	w->subst[w->subst_n++] = pos;
	return 0;
}

/* Forget the substitutes before pos: expat is past them for good. */
static void subst_trim(struct walk *w, XML_Index pos)
{
	if (pos < 0)
		return;
	while (w->subst_head < w->subst_n &&
	       w->subst[w->subst_head] < (uint64_t)pos)
		w->subst_head++;
	if (w->subst_head == w->subst_n)
		w->subst_head = w->subst_n = 0;
}

static bool text_add(struct walk *w, const XML_Char *s, size_t len)
{
	if (w->text_len + len > S3_XML_TEXT_MAX) {
		w->bad = true;
		XML_StopParser(w->xp, XML_FALSE);
		return false;
	}
	memcpy(w->text + w->text_len, s, len);
	w->text_len += len;
	return true;
}

static const char *local_name(const XML_Char *name)
{
	/* With namespace processing off, "ns:Name" arrives whole. */
	const char *colon = strrchr(name, ':');

	return colon ? colon + 1 : name;
}

static void XMLCALL start_el(void *ud, const XML_Char *name,
			     const XML_Char **attrs)
{
	struct walk *w = ud;

	(void)attrs;
	if (w->depth < WALK_DEPTH)
		(void)snprintf(w->names[w->depth], NAME_MAX_LEN, "%s",
			       local_name(name));
	w->depth++;
	w->text_len = 0;
}

static void XMLCALL end_el(void *ud, const XML_Char *name)
{
	struct walk *w = ud;

	(void)name;
	w->text[w->text_len] = '\0';
	if (w->depth <= WALK_DEPTH)
		w->end(w, w->ctx);
	w->depth--;
	w->text_len = 0;
}

/*
 * Text, as expat reports it: a run of literal characters, one reference,
 * or one newline. Only a literal run can hold a substitute, and for UTF-8
 * input expat hands it over as the bytes it was given, starting at the
 * event's byte index: a queued position inside [at, at + len) is a
 * substitute at offset position - at. (A reference's len is below its own
 * length in the input, which is all ASCII, so no position falls in it.)
 */
static void XMLCALL char_data(void *ud, const XML_Char *s, int len)
{
	struct walk *w = ud;
	size_t n = (size_t)len, i = 0;
	XML_Index at = 0;

	if (w->subst_head < w->subst_n) {
		at = XML_GetCurrentByteIndex(w->xp);
		if (at < 0) {
			w->bad = true;
			XML_StopParser(w->xp, XML_FALSE);
			return;
		}
		subst_trim(w, at);
	}
	while (i < n) {
		size_t end = n;
		char orig;

		if (w->subst_head < w->subst_n &&
		    w->subst[w->subst_head] < (uint64_t)at + n)
			end = (size_t)(w->subst[w->subst_head] - (uint64_t)at);
		if (!text_add(w, s + i, end - i))
			return;
		if (end == n)
			break;
		if (n - end < 3 || !is_subst(s + end)) {
			/* Not what we put there: expat did not behave as
			 * assumed above; trust nothing of this document. */
			w->bad = true;
			XML_StopParser(w->xp, XML_FALSE);
			return;
		}
		orig = (char)((unsigned char)s[end + 2] & 0x1f);
		if (!text_add(w, &orig, 1))
			return;
		w->subst_head++;
		i = end + 3;
	}
}

/* S3 documents have no DTD; one is refused outright (entity games). */
static void XMLCALL doctype(void *ud, const XML_Char *name,
			    const XML_Char *sysid, const XML_Char *pubid,
			    int has_internal)
{
	struct walk *w = ud;

	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	w->bad = true;
	XML_StopParser(w->xp, XML_FALSE);
}

static int walk_init(struct walk *w, void (*end)(struct walk *, void *),
		     void *ctx)
{
	memset(w->names, 0, sizeof(w->names));
	w->depth = 0;
	w->text_len = 0;
	w->bad = false;
	w->end = end;
	w->ctx = ctx;
	w->fed = 0;
	w->subst_head = w->subst_n = 0;
	if (!w->xp) {
		w->xp = XML_ParserCreate("UTF-8");
		if (!w->xp)
			return -ENOMEM;
	} else if (XML_ParserReset(w->xp, "UTF-8") != XML_TRUE) {
		return -ENOMEM;
	}
	XML_SetUserData(w->xp, w);
	XML_SetElementHandler(w->xp, start_el, end_el);
	XML_SetCharacterDataHandler(w->xp, char_data);
	XML_SetStartDoctypeDeclHandler(w->xp, doctype);
	return 0;
}

static void walk_fini(struct walk *w)
{
	if (w->xp)
		XML_ParserFree(w->xp);
	w->xp = NULL;
	free(w->subst);
	w->subst = NULL;
	w->subst_head = w->subst_n = w->subst_cap = 0;
}

static int walk_parse(struct walk *w, const char *buf, size_t len, bool final)
{
	while (len > 0 || final) {
		int n = len > (1u << 30) ? (1 << 30) : (int)len;

		if (XML_Parse(w->xp, buf, n, final && (size_t)n == len) !=
			XML_STATUS_OK ||
		    w->bad)
			return -EBADMSG;
		w->fed += (uint64_t)n;
		/*
		 * Outside a handler the index is just past the last token
		 * expat consumed: substitutes before it were in markup (a
		 * comment, an attribute) and will never be reported as text.
		 * What stays queued is in expat's unparsed tail.
		 */
		if (w->subst_head < w->subst_n)
			subst_trim(w, XML_GetCurrentByteIndex(w->xp));
		buf += n;
		len -= (size_t)n;
		if (len == 0)
			break;
	}
	return 0;
}

/* Returns 0, -EBADMSG or -ENOMEM. */
static int walk_feed(struct walk *w, const char *buf, size_t len, bool final)
{
	const unsigned char *u = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len && !xml_forbidden(u[i]))
		i++;
	if (i == len)
		return walk_parse(w, buf, len, final);
	i = 0;
	while (i < len) {
		size_t o = 0;
		int r;

		for (; i < len && o + 3 <= sizeof(w->sbuf); i++) {
			if (!xml_forbidden(u[i])) {
				w->sbuf[o++] = u[i];
				continue;
			}
			if (subst_push(w, w->fed + o) < 0)
				return -ENOMEM;
			w->sbuf[o++] = 0xee;
			w->sbuf[o++] = 0x80;
			w->sbuf[o++] = (unsigned char)(0x80 | u[i]);
		}
		r = walk_parse(w, (const char *)w->sbuf, o, final && i == len);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Is the current element path exactly a/b/... (depth names)? */
static bool at(const struct walk *w, int depth, const char *name)
{
	return w->depth == depth && strcmp(w->names[depth - 1], name) == 0;
}

/* Copy a string, cut to fit cap. */
static void copy_trunc(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- ListObjectsV2 ---- */

struct s3_list_parser {
	struct walk w;
	struct s3_list_item cur;
	struct s3_list_item *items;
	size_t n, cap;
	bool truncated;
	bool url_encoded;
	char *token;
	int err;
};

static void list_item_fini(struct s3_list_item *it)
{
	free(it->key);
	it->key = NULL;
}

static void list_end(struct walk *w, void *ctx)
{
	struct s3_list_parser *p = ctx;

	if (w->depth == 2) {
		if (strcmp(w->names[1], "IsTruncated") == 0)
			p->truncated = strcmp(w->text, "true") == 0;
		else if (strcmp(w->names[1], "NextContinuationToken") == 0) {
			free(p->token);
			p->token = strdup(w->text);
			if (!p->token)
				p->err = -ENOMEM;
		} else if (strcmp(w->names[1], "EncodingType") == 0)
			p->url_encoded = strcmp(w->text, "url") == 0;
		else if (strcmp(w->names[1], "Contents") == 0) {
			if (!p->cur.key) {
				p->err = -EBADMSG;
				return;
			}
			if (p->n == p->cap) {
				size_t nc = p->cap ? p->cap * 2 : 256;
				struct s3_list_item *ni =
				    realloc(p->items, nc * sizeof(*ni));
				if (!ni) {
					p->err = -ENOMEM;
					return;
				}
				p->items = ni;
				p->cap = nc;
			}
			p->items[p->n++] = p->cur;
			memset(&p->cur, 0, sizeof(p->cur));
			p->cur.last_modified_ns = -1;
		}
		return;
	}
	if (w->depth != 3 || strcmp(w->names[1], "Contents") != 0)
		return;
	if (at(w, 3, "Key")) {
		free(p->cur.key);
		p->cur.key = malloc(w->text_len + 1);
		if (!p->cur.key) {
			p->err = -ENOMEM;
			return;
		}
		memcpy(p->cur.key, w->text, w->text_len + 1);
		p->cur.key_len = w->text_len;
	} else if (at(w, 3, "Size")) {
		char *end;
		p->cur.size = strtoull(w->text, &end, 10);
		if (end == w->text || *end)
			p->err = -EBADMSG;
	} else if (at(w, 3, "ETag")) {
		const char *t = w->text;
		size_t n = w->text_len;
		if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
			t++;
			n -= 2;
		}
		if (n >= sizeof(p->cur.etag))
			n = sizeof(p->cur.etag) - 1;
		memcpy(p->cur.etag, t, n);
		p->cur.etag[n] = '\0';
	} else if (at(w, 3, "LastModified")) {
		p->cur.last_modified_ns = s3_parse_iso8601(w->text);
	}
}

static void list_reset(struct s3_list_parser *p)
{
	list_item_fini(&p->cur);
	memset(&p->cur, 0, sizeof(p->cur));
	p->cur.last_modified_ns = -1;
	for (size_t i = 0; i < p->n; i++)
		list_item_fini(&p->items[i]);
	free(p->items);
	p->items = NULL;
	p->n = p->cap = 0;
	p->truncated = false;
	p->url_encoded = false;
	free(p->token);
	p->token = NULL;
	p->err = 0;
}

struct s3_list_parser *s3_list_parser_new(void)
{
	struct s3_list_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	list_reset(p);
	if (walk_init(&p->w, list_end, p) < 0) {
		s3_list_parser_free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

int s3_list_parser_feed(struct s3_list_parser *p, const char *buf, size_t len)
{
	int r;

	if (p->err)
		return p->err;
	r = walk_feed(&p->w, buf, len, false);
	if (r < 0)
		p->err = r;
	return p->err;
}

int s3_list_parser_finish(struct s3_list_parser *p, struct s3_list_page *page)
{
	int r = p->err;

	if (r == 0)
		r = walk_feed(&p->w, "", 0, true);
	if (r == 0 && p->truncated && !p->token)
		r = -EBADMSG; /* would loop over the first page forever */
	if (r == 0 && p->url_encoded) {
		for (size_t i = 0; i < p->n && r == 0; i++) {
			size_t n;
			char *k = s3_url_decode(p->items[i].key,
						p->items[i].key_len, &n);
			if (!k) {
				r = errno == ENOMEM ? -ENOMEM : -EBADMSG;
				break;
			}
			free(p->items[i].key);
			p->items[i].key = k;
			p->items[i].key_len = n;
		}
	}
	if (r == 0) {
		page->items = p->items;
		page->n = p->n;
		page->truncated = p->truncated;
		page->next_token = p->truncated ? p->token : NULL;
		if (!p->truncated)
			free(p->token);
		p->items = NULL;
		p->n = p->cap = 0;
		p->token = NULL;
	}
	list_reset(p);
	if (walk_init(&p->w, list_end, p) < 0 && r == 0)
		r = -ENOMEM;
	return r;
}

void s3_list_parser_free(struct s3_list_parser *p)
{
	if (!p)
		return;
	list_reset(p);
	walk_fini(&p->w);
	free(p);
}

void s3_list_page_fini(struct s3_list_page *page)
{
	for (size_t i = 0; i < page->n; i++)
		list_item_fini(&page->items[i]);
	free(page->items);
	free(page->next_token);
	memset(page, 0, sizeof(*page));
}

/* ---- small documents ---- */

struct find_ctx {
	const char *name;
	char *out;
	size_t cap;
	bool found;
};

static void find_end(struct walk *w, void *ctx)
{
	struct find_ctx *f = ctx;

	if (f->found || w->depth < 1 ||
	    strcmp(w->names[w->depth - 1], f->name) != 0)
		return;
	copy_trunc(f->out, f->cap, w->text);
	f->found = true;
}

int s3_xml_find(const char *doc, size_t len, const char *name, char *out,
		size_t cap)
{
	struct walk *w = calloc(1, sizeof(*w));
	struct find_ctx f = {.name = name, .out = out, .cap = cap};
	int r;

	if (!w)
		return -ENOMEM;
	r = walk_init(w, find_end, &f);
	if (r == 0)
		r = walk_feed(w, doc, len, true);
	walk_fini(w);
	free(w);
	if (r < 0)
		return r;
	return f.found ? 0 : -ENOENT;
}

static void root_end(struct walk *w, void *ctx)
{
	char *root = ctx;

	if (w->depth == 1)
		(void)snprintf(root, NAME_MAX_LEN, "%s", w->names[0]);
}

bool s3_xml_root_is(const char *doc, size_t len, const char *name)
{
	struct walk *w = calloc(1, sizeof(*w));
	char root[NAME_MAX_LEN] = "";
	bool is = false;

	if (!w)
		return false;
	if (walk_init(w, root_end, root) == 0 &&
	    walk_feed(w, doc, len, true) == 0)
		is = strcmp(root, name) == 0;
	walk_fini(w);
	free(w);
	return is;
}

struct del_ctx {
	void (*cb)(void *ctx, const char *key, const char *code);
	void *ctx;
	char key[S3_XML_TEXT_MAX + 1];
	char code[64];
	int n;
};

static void del_end(struct walk *w, void *ctx)
{
	struct del_ctx *d = ctx;

	if (w->depth == 3 && strcmp(w->names[1], "Error") == 0) {
		if (strcmp(w->names[2], "Key") == 0)
			memcpy(d->key, w->text, w->text_len + 1);
		else if (strcmp(w->names[2], "Code") == 0)
			copy_trunc(d->code, sizeof(d->code), w->text);
	} else if (at(w, 2, "Error")) {
		d->cb(d->ctx, d->key, d->code);
		d->n++;
		d->key[0] = '\0';
		d->code[0] = '\0';
	}
}

int s3_xml_delete_errors(const char *doc, size_t len,
			 void (*cb)(void *ctx, const char *key,
				    const char *code),
			 void *ctx)
{
	struct walk *w = calloc(1, sizeof(*w));
	struct del_ctx *d = calloc(1, sizeof(*d));
	int r = -ENOMEM;

	if (w && d) {
		d->cb = cb;
		d->ctx = ctx;
		r = walk_init(w, del_end, d);
		if (r == 0)
			r = walk_feed(w, doc, len, true);
		if (r == 0)
			r = d->n;
	}
	if (w)
		walk_fini(w);
	free(w);
	free(d);
	return r;
}

/* ---- helpers ---- */

static int hexdig(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *s3_url_decode(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(len + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi = len - i >= 3 ? hexdig(s[i + 1]) : -1;
			int lo = len - i >= 3 ? hexdig(s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				free(out);
				errno = EINVAL;
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

int64_t s3_parse_iso8601(const char *s)
{
	struct tm tm;
	const char *p;
	int64_t ns = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (digits < 9) {
				ns = ns * 10 + (*p - '0');
				digits++;
			}
		for (; digits < 9; digits++)
			ns *= 10;
	}
	if (*p != 'Z' || p[1])
		return -1;
	t = timegm(&tm);
	/*
	 * Storage decides what it sends: a time before 1970 or past 2262
	 * does not fit in nanoseconds (and is no modification time of a file
	 * of ours). Treat it as absent rather than overflow.
	 */
	if (t == (time_t)-1 || t < 0 || t > INT64_MAX / 1000000000 - 1)
		return -1;
	return (int64_t)t * 1000000000 + ns;
}

int s3_xml_escape(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s; s++) {
		const char *rep = NULL;
		char one[2] = {*s, '\0'};
		size_t n;

		switch (*s) {
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '&':
			rep = "&amp;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		default:
			rep = one;
			break;
		}
		n = strlen(rep);
		if (o + n + 1 > cap)
			return -ENOSPC;
		memcpy(out + o, rep, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}
