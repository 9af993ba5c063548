/* SPDX-License-Identifier: MIT */
/* S3 XML parsing with expat (sync/s3xml.c). */
#include "sync/s3xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sync/pathsafe.h"
#include "tests/tap.h"

static const char page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>b</Name><Prefix>users/u/openclaw/</Prefix><KeyCount>3</KeyCount>"
    "<MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
    "<Contents><Key>users/u/openclaw/a%20b+c.txt</Key>"
    "<LastModified>2024-01-02T03:04:05.678Z</LastModified>"
    "<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag>"
    "<Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>users/u/openclaw/%C3%BC/x%0Ay</Key>"
    "<LastModified>2024-01-02T03:04:05Z</LastModified>"
    "<ETag>\"0123456789abcdef0123456789abcdef-5\"</ETag>"
    "<Size>73400320</Size></Contents>"
    "<Contents><Key>users/u/openclaw/nul%00byte</Key><Size>1</Size>"
    "<ETag>\"x\"</ETag></Contents>"
    "<EncodingType>url</EncodingType>"
    "<NextContinuationToken>tok/en+1=</NextContinuationToken>"
    "</ListBucketResult>";

static const char page2_raw[] =
    "<ListBucketResult><IsTruncated>false</IsTruncated>"
    "<Contents><Key>a b+c&amp;d</Key><Size>5</Size></Contents>"
    "</ListBucketResult>";

/*
 * A server that ignores encoding-type=url: keys raw, no EncodingType, one
 * with a raw 0x01, one with raw 0x1f and one with a raw NUL among ordinary
 * ones (and a tab and a newline, which XML allows).
 */
static const char raw_page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>b</Name><Prefix>p/</Prefix><IsTruncated>false</IsTruncated>\r\n"
    "<Contents><Key>p/a b+c%41.txt</Key><Size>1</Size>"
    "<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag></Contents>"
    "<Contents><Key>p/bad\x01"
    "name</Key><Size>2</Size><ETag>\"x\"</ETag></Contents>"
    "<Contents><Key>p/\xc3\xbc/t&amp;t</Key><Size>3</Size></Contents>"
    "<Contents><Key>p/unit\x1f"
    "sep\x1f</Key><Size>4</Size></Contents>"
    "<Contents><Key>p/tab\tnl\nend</Key><Size>5</Size></Contents>"
    "<Contents><Key>p/nul\0byte</Key></Contents>"
    "<Contents><Key>p/z</Key><Size>6</Size></Contents>"
    "</ListBucketResult>";

struct want_key {
	const char *key;
	size_t len;
};

/* clang-format off */
#define WK(s) {s, sizeof(s) - 1}
/* clang-format on */

static const struct want_key raw_keys[] = {
    WK("p/a b+c%41.txt"),
    WK("p/bad\x01name"),
    WK("p/\xc3\xbc/t&t"),
    WK("p/unit\x1fsep\x1f"),
    WK("p/tab\tnl\nend"),
    WK("p/nul\0byte"),
    WK("p/z"),
};

/* Parse doc fed in chunks of chunk bytes (the whole document with 0). */
static int parse_chunked(struct s3_list_parser *p, const char *doc, size_t len,
			 size_t chunk, struct s3_list_page *page)
{
	int r = 0;

	if (chunk == 0)
		chunk = len;
	memset(page, 0, sizeof(*page));
	for (size_t i = 0; i < len && r == 0; i += chunk)
		r = s3_list_parser_feed(p, doc + i,
					len - i < chunk ? len - i : chunk);
	if (r < 0) {
		(void)s3_list_parser_finish(p, page);
		s3_list_page_fini(page);
		return r;
	}
	return s3_list_parser_finish(p, page);
}

/* 0 when page holds exactly the keys want, else 1 + the first mismatch. */
static size_t keys_differ(const struct s3_list_page *page,
			  const struct want_key *want, size_t n)
{
	if (page->n != n)
		return n + 1;
	for (size_t i = 0; i < n; i++)
		if (page->items[i].key_len != want[i].len ||
		    memcmp(page->items[i].key, want[i].key, want[i].len) != 0)
			return i + 1;
	return 0;
}

/*
 * Every chunk size from 1 to the whole document: returns the first size
 * at which the page fails or differs from want, or 0.
 */
static size_t every_chunk(struct s3_list_parser *p, const char *doc, size_t len,
			  const struct want_key *want, size_t n)
{
	for (size_t c = 1; c <= len; c++) {
		struct s3_list_page page;
		int r = parse_chunked(p, doc, len, c, &page);
		size_t d = r == 0 ? keys_differ(&page, want, n) : 0;

		if (r < 0 || d)
			diag("chunk %zu: r=%d, key %zu differs", c, r, d);
		s3_list_page_fini(&page);
		if (r < 0 || d)
			return c;
	}
	return 0;
}

static void control_bytes(void)
{
	struct s3_list_parser *p = s3_list_parser_new();
	struct s3_list_page page;
	const size_t nraw = sizeof(raw_keys) / sizeof(*raw_keys);

	is_int(every_chunk(p, raw_page, sizeof(raw_page) - 1, raw_keys, nraw),
	       0,
	       "raw keys with control bytes: every chunk size 1..%zu gives "
	       "the server's bytes, ordinary keys unchanged",
	       sizeof(raw_page) - 1);
	is_int(parse_chunked(p, raw_page, sizeof(raw_page) - 1, 0, &page), 0,
	       "the raw page parses");
	if (page.n != nraw) {
		ok(false, "the raw page has %zu keys", nraw);
		s3_list_page_fini(&page);
		s3_list_parser_free(p);
		return;
	}
	ok(page.items[1].size == 2 && strcmp(page.items[1].etag, "x") == 0 &&
	       page.items[3].size == 4 && page.items[6].size == 6,
	   "the fields around a control byte are read as usual");
	is_str(pathsafe_check(page.items[1].key + 2, page.items[1].key_len - 2),
	       "control character", "pathsafe refuses the 0x01 key");
	is_str(pathsafe_check(page.items[3].key + 2, page.items[3].key_len - 2),
	       "control character", "pathsafe refuses the 0x1f key");
	is_str(pathsafe_check(page.items[5].key + 2, page.items[5].key_len - 2),
	       "NUL character", "pathsafe refuses the NUL key");
	ok(pathsafe_check(page.items[0].key + 2, page.items[0].key_len - 2) ==
		   NULL &&
	       pathsafe_check(page.items[2].key + 2,
			      page.items[2].key_len - 2) == NULL,
	   "... and accepts the ordinary ones");
	s3_list_page_fini(&page);

	{
		/* Claims url encoding, yet sends one key raw. */
		static const char doc[] =
		    "<ListBucketResult><EncodingType>url</EncodingType>"
		    "<Contents><Key>p/a%20b</Key></Contents>"
		    "<Contents><Key>p/c\x02"
		    "d</Key></Contents></ListBucketResult>";
		static const struct want_key want[] = {WK("p/a b"), WK("p/c\x02"
								       "d")};
		is_int(every_chunk(p, doc, sizeof(doc) - 1, want, 2), 0,
		       "with EncodingType url: keys decoded, the raw control "
		       "byte kept");
	}
	{
		/* Private-use characters a server really sent, raw and as
		 * references, in a clean page and beside substitutes. */
		static const char clean[] =
		    "<ListBucketResult><Contents><Key>p/\xee\x80\x81"
		    "pua</Key></Contents>"
		    "<Contents><Key>p/&#xE01F;&#57344;</Key></Contents>"
		    "</ListBucketResult>";
		static const struct want_key want_clean[] = {
		    WK("p/\xee\x80\x81pua"), WK("p/\xee\x80\x9f\xee\x80\x80")};
		static const char mixed[] =
		    "<ListBucketResult><Contents><Key>p/\xee\x80\x81"
		    "\x01&#xe002;\x02\xee\x80\x82</Key></Contents>"
		    "<Contents><Key>p/\xee\x80\x81pua</Key></Contents>"
		    "</ListBucketResult>";
		static const struct want_key want_mixed[] = {
		    WK("p/\xee\x80\x81\x01\xee\x80\x82\x02\xee\x80\x82"),
		    WK("p/\xee\x80\x81pua")};
		is_int(every_chunk(p, clean, sizeof(clean) - 1, want_clean, 2),
		       0, "a clean page with private-use keys is unchanged");
		is_int(every_chunk(p, mixed, sizeof(mixed) - 1, want_mixed, 2),
		       0,
		       "beside substitutes, private-use characters sent by "
		       "the server are kept");
	}
	{
		/* Not element text: the byte is still not allowed there. */
		static const char *const bad[] = {
		    "<ListBucketResult><Contents><Ke\x01y>a</Ke\x01y>"
		    "</Contents></ListBucketResult>",
		    "\x01<ListBucketResult></ListBucketResult>",
		    "<ListBucketResult \x01></ListBucketResult>",
		    "<ListBucketResult><Contents><Key>a&#x1;</Key></Contents>"
		    "</ListBucketResult>",
		};
		bool all = true;

		for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
			if (parse_chunked(p, bad[i], strlen(bad[i]), 3,
					  &page) != -EBADMSG) {
				diag("document %zu parsed", i);
				all = false;
				s3_list_page_fini(&page);
			}
		ok(all, "a control byte in a name, before the root, between "
			"attributes or as a reference is still malformed");
	}
	{
		/* In CDATA and around comments and attributes. */
		static const char doc[] =
		    "<ListBucketResult><Contents a=\"\x03\"><!-- \x04 -->"
		    "<Key>p/<![CDATA[c\x05<d]]>e<!--\x06-->f\x07</Key>"
		    "</Contents></ListBucketResult>";
		static const struct want_key want[] = {WK("p/c\x05<def\x07")};
		is_int(every_chunk(p, doc, sizeof(doc) - 1, want, 1), 0,
		       "CDATA, comments and attributes around control bytes");
	}
	{
		/* The bound counts the server's bytes, not the substitutes. */
		size_t n = S3_XML_TEXT_MAX;
		char *doc = malloc(n + 128);
		size_t len;

		strcpy(doc, "<ListBucketResult><Contents><Key>");
		len = strlen(doc);
		memset(doc + len, '\x01', n);
		strcpy(doc + len + n, "</Key></Contents></ListBucketResult>");
		ok(parse_chunked(p, doc, strlen(doc), 1000, &page) == 0 &&
		       page.n == 1 && page.items[0].key_len == n,
		   "a key of S3_XML_TEXT_MAX control bytes fits");
		s3_list_page_fini(&page);
		memmove(doc + len + 1, doc + len, strlen(doc + len) + 1);
		doc[len] = '\x01';
		is_int(parse_chunked(p, doc, strlen(doc), 1000, &page),
		       -EBADMSG, "one more byte is refused");
		free(doc);
	}
	{
		/* Many substitutes in markup never reported as text. */
		size_t n = 300000;
		char *doc = malloc(n + 128);
		size_t len;

		strcpy(doc, "<ListBucketResult><!--");
		len = strlen(doc);
		memset(doc + len, '\x08', n);
		strcpy(doc + len + n, "--><Contents><Key>k\x08</Key></Contents>"
				      "</ListBucketResult>");
		ok(parse_chunked(p, doc, strlen(doc), 4096, &page) == 0 &&
		       page.n == 1 && page.items[0].key_len == 2 &&
		       memcmp(page.items[0].key, "k\x08", 2) == 0,
		   "a long comment of control bytes, then a key");
		s3_list_page_fini(&page);
		free(doc);
	}
	/* The same parser, reset by finish, reads a clean page as before. */
	is_int(parse_chunked(p, page1, sizeof(page1) - 1, 0, &page), 0,
	       "a clean page after pages with substitutes");
	is_str(page.items[0].key, "users/u/openclaw/a b c.txt",
	       "... decoded as before");
	s3_list_page_fini(&page);
	s3_list_parser_free(p);
}

static void del_cb(void *ctx, const char *key, const char *code)
{
	char *out = ctx;

	strcat(out, key);
	strcat(out, ":");
	strcat(out, code);
	strcat(out, ";");
}

int main(void)
{
	struct s3_list_parser *p = s3_list_parser_new();
	struct s3_list_page page;
	char out[256];
	int r = 0;

	/* Fed in 7-byte chunks: the parser must not care where they split. */
	for (size_t i = 0; i < sizeof(page1) - 1 && r == 0; i += 7) {
		size_t n =
		    sizeof(page1) - 1 - i < 7 ? sizeof(page1) - 1 - i : 7;
		r = s3_list_parser_feed(p, page1 + i, n);
	}
	is_int(r, 0, "a page fed in small chunks parses");
	is_int(s3_list_parser_finish(p, &page), 0, "page finished");
	is_int(page.n, 3, "three objects");
	ok(page.truncated, "truncated");
	is_str(page.next_token, "tok/en+1=", "continuation token kept as is");
	is_str(page.items[0].key, "users/u/openclaw/a b c.txt",
	       "url-encoded key decoded ('+' is a space)");
	is_str(page.items[0].etag, "d41d8cd98f00b204e9800998ecf8427e",
	       "ETag without its quotes");
	is_int(page.items[0].last_modified_ns, 1704164645678000000LL,
	       "LastModified with milliseconds");
	is_str(page.items[1].key, "users/u/openclaw/\xc3\xbc/x\ny",
	       "UTF-8 and a control character decoded");
	is_int(page.items[1].size, 73400320, "size");
	is_int(page.items[2].key_len, sizeof("users/u/openclaw/nul") + 4,
	       "an embedded NUL survives with its length");
	s3_list_page_fini(&page);

	is_int(s3_list_parser_feed(p, page2_raw, sizeof(page2_raw) - 1), 0,
	       "the same parser takes the next page");
	is_int(s3_list_parser_finish(p, &page), 0, "second page finished");
	ok(!page.truncated && !page.next_token, "last page");
	is_str(page.items[0].key, "a b+c&d",
	       "without EncodingType the key is taken literally");
	s3_list_page_fini(&page);

	{
		static const char bad[] = "<ListBucketResult><Contents><Key>x";
		(void)s3_list_parser_feed(p, bad, sizeof(bad) - 1);
		ok(s3_list_parser_finish(p, &page) < 0,
		   "a truncated document is an error");
	}
	{
		static const char trunc_notoken[] =
		    "<ListBucketResult><IsTruncated>true</IsTruncated>"
		    "</ListBucketResult>";
		(void)s3_list_parser_feed(p, trunc_notoken,
					  sizeof(trunc_notoken) - 1);
		ok(s3_list_parser_finish(p, &page) == -EBADMSG,
		   "truncated without a token is refused (no endless loop)");
	}
	{
		static const char dtd[] =
		    "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>"
		    "<ListBucketResult><Name>&a;</Name></ListBucketResult>";
		(void)s3_list_parser_feed(p, dtd, sizeof(dtd) - 1);
		ok(s3_list_parser_finish(p, &page) < 0, "a DTD is refused");
	}
	{
		size_t n = 2 * S3_XML_TEXT_MAX;
		char *big = malloc(n + 64);
		strcpy(big, "<ListBucketResult><Name>");
		memset(big + strlen(big), 'x', n);
		strcpy(big + 24 + n, "</Name></ListBucketResult>");
		(void)s3_list_parser_feed(p, big, strlen(big));
		ok(s3_list_parser_finish(p, &page) < 0,
		   "oversized element text is refused");
		free(big);
	}
	s3_list_parser_free(p);
	control_bytes();

	{
		static const char err[] =
		    "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
		    "<Message>Please reduce</Message></Error>";
		ok(s3_xml_find(err, sizeof(err) - 1, "Code", out,
			       sizeof(out)) == 0 &&
		       strcmp(out, "SlowDown") == 0,
		   "error code");
		ok(s3_xml_root_is(err, sizeof(err) - 1, "Error"),
		   "an error document is recognised");
		is_int(s3_xml_find(err, sizeof(err) - 1, "UploadId", out,
				   sizeof(out)),
		       -ENOENT, "absent element");
		is_int(s3_xml_find("<a>", 3, "a", out, sizeof(out)), -EBADMSG,
		       "malformed document");
	}
	{
		static const char del[] =
		    "<DeleteResult><Deleted><Key>ok</Key></Deleted>"
		    "<Error><Key>k1</Key><Code>AccessDenied</Code></Error>"
		    "<Error><Key>k&amp;2</Key><Code>InternalError</Code>"
		    "</Error></DeleteResult>";
		out[0] = '\0';
		is_int(s3_xml_delete_errors(del, sizeof(del) - 1, del_cb, out),
		       2, "two failed deletions");
		is_str(out, "k1:AccessDenied;k&2:InternalError;",
		       "their keys and codes");
	}
	{
		static const char del[] =
		    "<DeleteResult><Error><Key>c\x01k</Key>"
		    "<Code>AccessDenied</Code></Error></DeleteResult>";
		static const char err[] =
		    "<Error><Code>NoSuchKey</Code><Key>a\x02</Key></Error>";
		out[0] = '\0';
		is_int(s3_xml_delete_errors(del, sizeof(del) - 1, del_cb, out),
		       1, "a DeleteObjects error for a raw control key");
		is_str(out, "c\x01k:AccessDenied;", "... names that key");
		ok(s3_xml_find(err, sizeof(err) - 1, "Code", out,
			       sizeof(out)) == 0 &&
		       strcmp(out, "NoSuchKey") == 0,
		   "an error document with a raw control key is read");
	}
	{
		size_t n;
		char *d = s3_url_decode("a%2", 3, &n);
		ok(!d, "truncated escape refused");
		d = s3_url_decode("%zz", 3, &n);
		ok(!d, "bad hex refused");
	}
	ok(s3_xml_escape("<a&'\">", out, sizeof(out)) == 0 &&
	       strcmp(out, "&lt;a&amp;&apos;&quot;&gt;") == 0,
	   "XML escaping for DeleteObjects");
	ok(s3_xml_escape("abc", out, 3) == -ENOSPC, "escape is bounded");
	is_int(s3_parse_iso8601("1970-01-01T00:00:01.5Z"), 1500000000LL,
	       "ISO 8601 with fraction");
	is_int(s3_parse_iso8601("2024-01-02 03:04:05"), -1,
	       "not ISO 8601 (no T, no Z)");
	/* Found by fuzz-s3xml: a far year overflowed the nanoseconds. */
	is_int(s3_parse_iso8601("-0986-01-01T00:00:00Z"), -1,
	       "a year before 1970 is no modification time (no overflow)");
	is_int(s3_parse_iso8601("9999-12-31T23:59:59Z"), -1,
	       "a year past 2262 does not fit in nanoseconds (no overflow)");
	is_int(s3_parse_iso8601("2262-01-01T00:00:00Z"), 9214646400000000000LL,
	       "2262 still fits");
	return tap_done();
}
