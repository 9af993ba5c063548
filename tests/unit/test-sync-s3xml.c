/* SPDX-License-Identifier: MIT */
/* S3 XML parsing with expat (sync/s3xml.c). */
#include "sync/s3xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
