#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The README's configuration reference and the code agree: every
# environment variable the code reads is in the README's tables, and every
# variable the tables list is read by the code.
source "$(dirname "$0")/../lib.sh"

cd "$TI_TOP" || exit 1
/usr/bin/python3 - <<'PY' >"$TI_TMP/env.tap"
import re, glob

src = {}
for f in glob.glob("init/*.c") + glob.glob("supervisor/*.c") + \
         glob.glob("sync/*.c") + glob.glob("policy/*.c"):
    src[f] = open(f).read()

# Reads: a literal passed to an environment accessor, or a literal bound
# to a `name` that such an accessor is then called with.
call = re.compile(r'\b(?:getenv|secure_getenv|env_get|dup_env|env_uint|'
                  r'env_duration|env_size|OC)\(\s*(?:[a-z]+,\s*)?"([A-Z][A-Z0-9_]+)"')
named = re.compile(r'const char \*name = "([A-Z][A-Z0-9_]+)"')
# NAME and NAME_FILE, read together.
pair = re.compile(r'\benv_(?:id|secret)_or_file\(\s*e,\s*"([A-Z][A-Z0-9_]+)",\s*"([A-Z][A-Z0-9_]+)"')
read = set()
for f, text in src.items():
    read |= set(call.findall(text))
    for a, b in pair.findall(text):
        read |= {a, b}
    if "env_get(e, name)" in text:
        read |= set(named.findall(text))

readme = open("README.md").read()
sect = readme.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
listed = set()
for line in sect.splitlines():
    if line.startswith("| `"):
        first = line.split("|")[1]
        listed |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))

n = 0
def ok(cond, msg):
    global n
    n += 1
    print(("ok %d - " if cond else "not ok %d - ") % n + msg)

ok(len(read) >= 40, "found %d variables read by the code" % len(read))
ok(len(listed) >= 40, "found %d variables in the README tables" % len(listed))
for v in sorted(read - listed):
    ok(False, "%s is read by the code but missing from the README" % v)
for v in sorted(listed - read):
    ok(False, "%s is in the README but the code never reads it" % v)
ok(read == listed, "code and README list the same %d variables" % len(read))
PY
cat "$TI_TMP/env.tap"
n=$(grep -cE '^(not )?ok' "$TI_TMP/env.tap")
_tap_n=$n
_tap_failed=$(grep -c '^not ok' "$TI_TMP/env.tap")
done_testing
