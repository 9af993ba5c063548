/* SPDX-License-Identifier: MIT */
/*
 * The S3 XML documents the agent reads, parsed with expat as a stream:
 * ListObjectsV2 pages (fed chunk by chunk as they arrive), error
 * documents, and the small answers of multipart uploads and DeleteObjects.
 * Element text is bounded (S3_XML_TEXT_MAX); a document that breaks a
 * bound or is not well-formed is an error, never a crash or an unbounded
 * allocation. One exception to XML: a C0 control byte that XML 1.0 forbids
 * (all but tab, newline and carriage return), sent raw in element text by
 * a server that ignores encoding-type=url, is taken as that byte, so one
 * such key does not make a whole listing unreadable. It reaches the caller
 * unchanged, for the path check to refuse.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S3_XML_TEXT_MAX 8192

/*
 * One object of a listing. key may hold any byte (even NUL, from %00 or
 * sent raw): use key_len.
 */
struct s3_list_item {
	char *key;
	size_t key_len;
	uint64_t size;
	char etag[80];		  /* without quotes */
	int64_t last_modified_ns; /* -1: absent */
};

struct s3_list_page {
	struct s3_list_item *items;
	size_t n;
	bool truncated;
	char *next_token; /* NULL when not truncated */
};

struct s3_list_parser;

/* Returns NULL and sets errno. */
struct s3_list_parser *s3_list_parser_new(void);

/*
 * Feed the next chunk of the page's document (split anywhere). Returns 0,
 * -EBADMSG or -ENOMEM; after an error the parser stays failed until
 * s3_list_parser_finish().
 */
int s3_list_parser_feed(struct s3_list_parser *p, const char *buf, size_t len);

/*
 * End of the document: fill page (keys URL-decoded when the response says
 * EncodingType url) and reset the parser for the next page. Returns 0,
 * -EBADMSG or -ENOMEM. Free the page with s3_list_page_fini().
 */
int s3_list_parser_finish(struct s3_list_parser *p, struct s3_list_page *page);

void s3_list_parser_free(struct s3_list_parser *p);

void s3_list_page_fini(struct s3_list_page *page);

/*
 * The text of the first element named name anywhere in the document
 * (UploadId, ETag, Code, Message), into out. Returns 0, -ENOENT when there
 * is none, or -EBADMSG.
 */
int s3_xml_find(const char *doc, size_t len, const char *name, char *out,
		size_t cap);

/* True when the document's root element is name ("Error"). */
bool s3_xml_root_is(const char *doc, size_t len, const char *name);

/*
 * DeleteObjects result: call cb for each <Error> entry (key and code).
 * Returns the number of errors, or -EBADMSG.
 */
int s3_xml_delete_errors(const char *doc, size_t len,
			 void (*cb)(void *ctx, const char *key,
				    const char *code),
			 void *ctx);

/*
 * Percent-decode s (and '+' as space, as S3's url encoding type writes
 * it) into a new buffer; *out_len gets the length (the result may hold
 * NUL bytes). Returns NULL on a malformed escape or no memory (errno).
 */
char *s3_url_decode(const char *s, size_t len, size_t *out_len);

/* Parse an ISO 8601 UTC time "2024-01-02T03:04:05.678Z" to ns, or -1. */
int64_t s3_parse_iso8601(const char *s);

/* Escape text for an XML element into out. Returns 0 or -ENOSPC. */
int s3_xml_escape(const char *s, char *out, size_t cap);
