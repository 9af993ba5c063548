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
 * within its buffer.
 */
#include <errno.h>
#include <string.h>

#include "sync/s3xml.h"
#include "tests/fuzz/fuzz.h"

static void count_error(void *ctx, const char *key, const char *code)
{
	size_t *n = ctx;

	FUZZ_ASSERT(key && code);
	(*n)++;
}

static void list(const uint8_t *data, size_t size, size_t chunk)
{
	struct s3_list_parser *p = s3_list_parser_new();
	struct s3_list_page page;
	int fed = 0, r;

	FUZZ_ASSERT(p);
	for (size_t off = 0; off < size && fed == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		fed = s3_list_parser_feed(p, (const char *)data + off, n);
		FUZZ_ASSERT(fed == 0 || fed == -EBADMSG);
	}
	memset(&page, 0, sizeof(page));
	r = s3_list_parser_finish(p, &page);
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
