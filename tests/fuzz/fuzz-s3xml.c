/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the S3 XML parsers (sync/s3xml.c).
 *
 * The first byte of the input picks the chunk size (1..256) with which the
 * rest, a ListObjectsV2 page as storage would send it, is fed to the
 * streaming list parser, as curl hands over a response piece by piece; the
 * page is then finished and read. The same bytes also go through the small
 * document readers (s3_xml_find, s3_xml_root_is, s3_xml_delete_errors) and
 * the key decoder (s3_url_decode).
 *
 * Invariants: feeding never fails differently from finishing (a parser
 * that returned an error stays failed); a finished page's items have a key
 * within the text bound, an ETag that fits and is NUL-terminated; a page
 * marked truncated has a continuation token; the parser can be reused for
 * a second page after finish; s3_xml_find's result is NUL-terminated and
 * within its buffer. The page read in chunks is the page read in one go
 * (where chunks split must never matter, also for the substitution of
 * control bytes that XML forbids).
 *
 * Round trip: the input's bytes are also made into the keys of a page as
 * a server that ignores encoding-type=url writes it (control bytes raw,
 * '&' '<' '>' escaped, CR as &#13; since XML turns a raw one into LF), with
 * bytes 0x80 and up standing for private-use characters next to the ones
 * the parser substitutes, raw or as references, and comments full of
 * control bytes between the objects. That page must parse (unless a key
 * is over the text bound), in the chosen chunks, into exactly those keys:
 * every control byte comes back as itself, no private-use character the
 * server sent is taken for a substitute.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sync/s3xml.h"
#include "tests/fuzz/fuzz.h"

static void count_error(void *ctx, const char *key, const char *code)
{
	size_t *n = ctx;

	FUZZ_ASSERT(key && code);
	(*n)++;
}

/* Feed data in chunks and finish; fed gets the first feeding error. */
static int parse(struct s3_list_parser *p, const uint8_t *data, size_t size,
		 size_t chunk, struct s3_list_page *page, int *fed)
{
	*fed = 0;
	for (size_t off = 0; off < size && *fed == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		*fed = s3_list_parser_feed(p, (const char *)data + off, n);
		FUZZ_ASSERT(*fed == 0 || *fed == -EBADMSG || *fed == -ENOMEM);
	}
	memset(page, 0, sizeof(*page));
	return s3_list_parser_finish(p, page);
}

static bool same_page(const struct s3_list_page *a,
		      const struct s3_list_page *b)
{
	if (a->n != b->n || a->truncated != b->truncated ||
	    !a->next_token != !b->next_token ||
	    (a->next_token && strcmp(a->next_token, b->next_token) != 0))
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct s3_list_item *x = &a->items[i], *y = &b->items[i];

		if (x->key_len != y->key_len ||
		    memcmp(x->key, y->key, x->key_len) != 0 ||
		    x->size != y->size || strcmp(x->etag, y->etag) != 0 ||
		    x->last_modified_ns != y->last_modified_ns)
			return false;
	}
	return true;
}

static void list(const uint8_t *data, size_t size, size_t chunk)
{
	struct s3_list_parser *p = s3_list_parser_new();
	struct s3_list_page page, whole;
	int fed = 0, fed2, r, r2;

	FUZZ_ASSERT(p);
	r = parse(p, data, size, chunk, &page, &fed);
	FUZZ_ASSERT(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (fed < 0)
		FUZZ_ASSERT(r < 0);
	if (r == 0) {
		for (size_t i = 0; i < page.n; i++) {
			const struct s3_list_item *it = &page.items[i];
			FUZZ_ASSERT(it->key);
			FUZZ_ASSERT(it->key_len <= S3_XML_TEXT_MAX);
			FUZZ_ASSERT(memchr(it->etag, '\0', sizeof(it->etag)));
		}
		if (page.truncated)
			FUZZ_ASSERT(page.next_token);
	}
	/* The same document in one piece: the same answer. */
	r2 = parse(p, data, size, size ? size : 1, &whole, &fed2);
	if (r != -ENOMEM && r2 != -ENOMEM) {
		FUZZ_ASSERT((r == 0) == (r2 == 0));
		if (r == 0)
			FUZZ_ASSERT(same_page(&page, &whole));
	}
	s3_list_page_fini(&whole);
	s3_list_page_fini(&page);
	/* The parser is reset by finish: a second, empty page must parse. */
	{
		static const char empty[] =
		    "<?xml version=\"1.0\"?><ListBucketResult "
		    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		    "<IsTruncated>false</IsTruncated></ListBucketResult>";
		memset(&page, 0, sizeof(page));
		if (s3_list_parser_feed(p, empty, sizeof(empty) - 1) == 0)
			FUZZ_ASSERT(s3_list_parser_finish(p, &page) == 0 &&
				    page.n == 0 && !page.truncated);
		s3_list_page_fini(&page);
	}
	s3_list_parser_free(p);
}

/* A growing buffer for the round trip's document and expected keys. */
struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t nc = (b->len + n) * 2 + 64;
		char *np = realloc(b->p, nc);

		FUZZ_ASSERT(np);
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_str(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* U+E000 + off (off < 0x40) as UTF-8, next to the substitutes' range. */
static void put_pua(struct buf *b, unsigned off)
{
	char u[3] = {(char)0xee, (char)(0x80 | (off >> 6)),
		     (char)(0x80 | (off & 0x3f))};

	put(b, u, 3);
}

#define RT_KEYS_MAX 64

static void round_trip(const uint8_t *data, size_t size, size_t chunk)
{
	static const char open_key[] = "<Contents><Key>";
	static const char close_key[] = "</Key><Size>1</Size></Contents>"
					"<!-- \x01\x1f\x0b\x00 -->";
	struct buf doc = {0}, want[RT_KEYS_MAX];
	struct s3_list_parser *p = s3_list_parser_new();
	struct s3_list_page page;
	size_t nkeys = 0;
	bool too_long = false;
	int fed, r;

	FUZZ_ASSERT(p);
	memset(want, 0, sizeof(want));
	put_str(&doc, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		      "<ListBucketResult><IsTruncated>false</IsTruncated>\n");
	put(&doc, open_key, sizeof(open_key) - 1);
	for (size_t i = 0; i < size; i++) {
		struct buf *k = &want[nkeys];
		uint8_t c = data[i];
		char ref[16];

		if (c == '|') {
			/* The next key (the last one takes the rest). */
			if (nkeys + 1 == RT_KEYS_MAX) {
				put(&doc, &c, 1);
				put(k, &c, 1);
				continue;
			}
			put(&doc, close_key, sizeof(close_key) - 1);
			put(&doc, open_key, sizeof(open_key) - 1);
			nkeys++;
		} else if (c >= 0xc0) {
			/* A private-use character sent as a reference. */
			(void)snprintf(ref, sizeof(ref), "&#x%X;",
				       0xe000u + (c - 0xc0u));
			put_str(&doc, ref);
			put_pua(k, c - 0xc0u);
		} else if (c >= 0x80) {
			/* ... and sent raw. */
			put_pua(&doc, c - 0x80u);
			put_pua(k, c - 0x80u);
		} else if (c == '&' || c == '<' || c == '>' || c == '\r') {
			(void)snprintf(ref, sizeof(ref), "&#%u;", c);
			put_str(&doc, ref);
			put(k, &c, 1);
		} else {
			/* Everything else raw, forbidden control bytes too. */
			put(&doc, &c, 1);
			put(k, &c, 1);
		}
	}
	put(&doc, close_key, sizeof(close_key) - 1);
	put_str(&doc, "</ListBucketResult>\n");
	nkeys++;
	for (size_t i = 0; i < nkeys; i++)
		if (want[i].len > S3_XML_TEXT_MAX)
			too_long = true;

	r = parse(p, (const uint8_t *)doc.p, doc.len, chunk, &page, &fed);
	if (r != -ENOMEM) {
		if (too_long) {
			FUZZ_ASSERT(r == -EBADMSG);
		} else {
			FUZZ_ASSERT(r == 0);
			FUZZ_ASSERT(page.n == nkeys);
			for (size_t i = 0; i < nkeys; i++) {
				const struct s3_list_item *it = &page.items[i];

				FUZZ_ASSERT(it->key_len == want[i].len);
				FUZZ_ASSERT(want[i].len == 0 ||
					    memcmp(it->key, want[i].p,
						   want[i].len) == 0);
				FUZZ_ASSERT(it->size == 1);
			}
		}
	}
	s3_list_page_fini(&page);
	s3_list_parser_free(p);
	for (size_t i = 0; i < nkeys; i++)
		free(want[i].p);
	free(doc.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"UploadId", "ETag", "Code",
					    "Message", "Key"};
	char out[128];
	size_t nerr = 0, dlen = 0;
	char *dec;
	int r;

	if (size < 1)
		return 0;
	fuzz_begin();
	list(data + 1, size - 1, (size_t)data[0] + 1);
	round_trip(data + 1, size - 1, (size_t)data[0] + 1);
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		memset(out, 'x', sizeof(out));
		r = s3_xml_find((const char *)data + 1, size - 1, names[i], out,
				sizeof(out));
		FUZZ_ASSERT(r == 0 || r == -ENOENT || r == -EBADMSG ||
			    r == -ENOSPC || r == -ENOMEM);
		if (r == 0)
			FUZZ_ASSERT(memchr(out, '\0', sizeof(out)));
	}
	(void)s3_xml_root_is((const char *)data + 1, size - 1, "Error");
	r = s3_xml_delete_errors((const char *)data + 1, size - 1, count_error,
				 &nerr);
	FUZZ_ASSERT(r < 0 || (size_t)r == nerr);
	dec = s3_url_decode((const char *)data + 1, size - 1, &dlen);
	if (dec)
		FUZZ_ASSERT(dlen <= size - 1);
	free(dec);
	fuzz_end();
	return 0;
}
