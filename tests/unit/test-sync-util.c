/* SPDX-License-Identifier: MIT */
/* Small sync pieces: mtime metadata, backoff, digests, the string map. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/backoff.h"
#include "sync/hash.h"
#include "sync/mtime.h"
#include "sync/strmap.h"
#include "tests/tap.h"

static bool count_cb(void *ctx, const char *key, void *value)
{
	(void)key;
	(void)value;
	(*(int *)ctx)++;
	return false;
}

static bool drop_odd_cb(void *ctx, const char *key, void *value)
{
	(void)ctx;
	(void)key;
	return ((long)value & 1) != 0;
}

int main(void)
{
	char buf[MTIME_STR_MAX];
	int64_t ns;

	/* rclone writes "%d.%09d" (seconds and nanoseconds) */
	mtime_format(1577934245123456789LL, buf, sizeof(buf));
	is_str(buf, "1577934245.123456789", "mtime as rclone formats it");
	mtime_format(1700000000000000000LL, buf, sizeof(buf));
	is_str(buf, "1700000000.000000000", "whole seconds keep 9 digits");
	ok(mtime_parse("1577934245.123456789", &ns) == 0 &&
	       ns == 1577934245123456789LL,
	   "parse rclone's value exactly");
	ok(mtime_parse("1700000000.5", &ns) == 0 && ns == 1700000000500000000LL,
	   "parse a short fraction");
	ok(mtime_parse("1700000000", &ns) == 0 && ns == 1700000000000000000LL,
	   "parse whole seconds");
	ok(mtime_parse(" 12.1234567891234 ", &ns) == 0 && ns == 12123456789LL,
	   "extra fraction digits are cut, blanks allowed");
	ok(mtime_parse("abc", &ns) == -EINVAL && mtime_parse("1.2x", &ns) < 0 &&
	       mtime_parse("", &ns) < 0 &&
	       mtime_parse("99999999999999999999", &ns) < 0,
	   "garbage and overflow refused");

	{
		bool in_range = true, spread = false;
		uint64_t first = backoff_delay_ms(3, 100, 10000, 0);
		for (int i = 0; i < 200; i++) {
			uint64_t d = backoff_delay_ms(3, 100, 10000, 0);
			in_range &= d <= 400;
			spread |= d != first;
		}
		ok(in_range, "full jitter stays within base*2^(n-1)");
		ok(spread, "full jitter varies");
		in_range = true;
		for (int i = 0; i < 200; i++)
			in_range &= backoff_delay_ms(40, 100, 5000, 0) <= 5000;
		ok(in_range, "capped (and no shift overflow)");
		ok(backoff_delay_ms(1, 100, 5000, 3000) >= 3000,
		   "never below the server's Retry-After");
		is_int(backoff_retry_after_ms("7"), 7000,
		       "Retry-After seconds");
		is_int(backoff_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"),
		       0, "Retry-After date left to the caller");
		is_int(backoff_retry_after_ms("99999"), 3600000,
		       "Retry-After capped at an hour");
	}

	{
		uint8_t md5[HASH_MD5_LEN], sha[HASH_SHA256_LEN];
		char hex[HASH_SHA256_HEX], b64[HASH_SHA256_B64];
		char path[] = "/tmp/ti-hash.XXXXXX";
		int fd = mkstemp(path);

		hash_buf("Welcome to Amazon S3.", 21, md5, sha);
		hash_hex(sha, sizeof(sha), hex);
		is_str(hex,
		       "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b"
		       "803f8b072",
		       "SHA-256 of AWS's example body");
		hash_buf("", 0, md5, NULL);
		hash_b64(md5, sizeof(md5), b64);
		is_str(b64,
		       "1B2M2Y8AsgTpgAmY7PhCfg==", "Content-MD5 of nothing");
		hash_hex(md5, sizeof(md5), hex);
		ok(hash_md5_from_hex(hex, md5) &&
		       !hash_md5_from_hex("xyz", md5) &&
		       !hash_md5_from_hex("d41d8cd98f00b204e9800998ecf8427e-2",
					  md5),
		   "MD5 hex parsing (multipart ETags are not MD5s)");
		ok(fd >= 0 && write(fd, "hello world", 11) == 11,
		   "temp file written");
		ok(hash_fd_range(fd, 6, 5, md5, NULL) == 0, "hash a range");
		hash_hex(md5, sizeof(md5), hex);
		is_str(hex, "7d793037a0760186574b0282f2f435e7",
		       "MD5 of the range 'world'");
		is_int(hash_fd_range(fd, 6, 10, md5, NULL), -EIO,
		       "a file shorter than promised is -EIO (it changed)");
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
	}

	{
		struct strmap *m = strmap_new();
		int n = 0;
		char key[32];
		bool all = true;

		for (long i = 0; i < 5000; i++) {
			(void)snprintf(key, sizeof(key), "k%ld", i);
			all &= strmap_put(m, key, (void *)i, NULL) == 0;
		}
		ok(all && strmap_size(m) == 5000, "5000 keys inserted");
		ok(strmap_get(m, "k4242") == (void *)4242L &&
		       strmap_has(m, "k0") && !strmap_has(m, "k5000"),
		   "lookups after growth");
		strmap_foreach(m, drop_odd_cb, NULL);
		is_int(strmap_size(m), 2500, "foreach can delete entries");
		strmap_foreach(m, count_cb, &n);
		is_int(n, 2500, "foreach visits every entry");
		ok(strmap_del(m, "k2") == (void *)2L && !strmap_has(m, "k2"),
		   "delete returns the value");
		strmap_free(m);
	}
	return tap_done();
}
