/* SPDX-License-Identifier: MIT */
/* TENANT_SYNC_EXCLUDE glob matching (sync/glob.c). */
#include "sync/glob.h"
#include "tests/tap.h"

int main(void)
{
	char *defaults[] = {"*.lock",  "*.log",		  "*.tmp",
			    ".git/**", "node_modules/**", NULL};
	char *anchored[] = {"cache/**/*.bin", "a?c", "[!x]y", NULL};

	ok(glob_match("*.log", "x.log"), "* matches within a segment");
	ok(!glob_match("*.log", "d/x.log"), "* does not cross '/'");
	ok(glob_match("**/x.log", "a/b/x.log"), "** crosses directories");
	ok(glob_match("a/**/b", "a/b"), "a/**/b matches a/b");
	ok(glob_match("a/**/b", "a/x/y/b"), "a/**/b matches deep");
	ok(glob_match("a/**", "a/x/y"), "a/** matches everything below");
	ok(!glob_match("a/**", "ab/x"), "a/** does not match ab/x");
	ok(glob_match("?.txt", "x.txt") && !glob_match("?.txt", "/.txt"),
	   "? is one non-slash character");
	ok(glob_match("[a-c]x", "bx") && !glob_match("[a-c]x", "dx"),
	   "character ranges");
	ok(glob_match("[!a]x", "bx") && !glob_match("[!a]x", "ax"),
	   "negated classes");
	ok(!glob_match("[ab", "a"), "an unterminated class matches nothing");
	ok(glob_match("\\*x", "*x") && !glob_match("\\*x", "ax"),
	   "backslash escapes");

	ok(glob_excludes_file(defaults, "app.log"), "*.log at the top");
	ok(glob_excludes_file(defaults, "deep/dir/app.log"),
	   "*.log at any depth (rclone's rule)");
	ok(glob_excludes_file(defaults, "x/.git/objects/ab"),
	   ".git/** at any depth");
	ok(glob_excludes_file(defaults, "node_modules/a/b.js"),
	   "node_modules/** excludes files below it");
	ok(!glob_excludes_file(defaults, "notes.md"), "ordinary file kept");
	ok(!glob_excludes_file(defaults, "logs/x.md"),
	   "'log' in a name is fine");
	ok(glob_excludes_file(NULL, ".tenant-init/sync.db"),
	   "the state directory is always excluded");
	ok(!glob_excludes_file(NULL, ".tenant/api-key.enc"),
	   ".tenant/ (the encrypted key) is synced");
	ok(!glob_excludes_file(NULL, "x/.tenant-init/y"),
	   "only the root's .tenant-init is ours");

	ok(glob_excludes_dir(defaults, ".git"), ".git is not watched");
	ok(glob_excludes_dir(defaults, "a/b/node_modules"),
	   "node_modules below is not watched");
	ok(!glob_excludes_dir(defaults, "src"), "src is watched");
	ok(glob_excludes_dir(NULL, ".tenant-init"), "state dir not watched");
	ok(!glob_excludes_dir(defaults, "x.log"),
	   "a file glob does not exclude a directory");

	ok(glob_excludes_file(anchored, "cache/v1/big.bin"),
	   "** inside a pattern");
	ok(glob_excludes_file(anchored, "cache/big.bin"),
	   "** matching zero directories");
	ok(glob_excludes_file(anchored, "abc") &&
	       !glob_excludes_file(anchored, "abbc"),
	   "? exactly one");
	ok(glob_excludes_file(anchored, "zy") &&
	       !glob_excludes_file(anchored, "xy"),
	   "class at any depth");
	return tap_done();
}
