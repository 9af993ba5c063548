/* SPDX-License-Identifier: MIT */
/* The probe's judgement: live, ready, fallbacks, grace and the wedge. */
#include <stdint.h>

#include "init/log.h"
#include "supervisor/probe.h"
#include "tests/tap.h"

static const char ready_body[] = "{\"ready\":true,\"failing\":[]}";
static const char unready_body[] =
    "{\"ready\":false,\"failing\":[\"startup-sidecars\"]}";

static struct probe_answer http(long status, const char *body)
{
	return (struct probe_answer){
	    .answered = true, .status = status, .body = body};
}

static const struct probe_answer none = {0};

static struct probe_eval fresh(uint64_t grace)
{
	return (struct probe_eval){
	    .mode = PROBE_MODE_HTTP, .started_ms = 1000, .grace_ms = grace};
}

static void test_body(void)
{
	ok(probe_body_says_ready(ready_body), "ready:true");
	ok(!probe_body_says_ready(unready_body), "ready:false");
	ok(probe_body_says_ready("not json"), "not JSON does not contradict");
	ok(probe_body_says_ready("{\"ok\":1}"), "no ready member");
	ok(probe_body_says_ready("{\"ready\":\"no\"}"), "non-boolean ready");
	ok(probe_body_says_ready("[false]"), "not an object");
	ok(probe_body_says_ready(NULL) && probe_body_says_ready(""),
	   "empty body");
}

static void test_http(void)
{
	struct probe_eval e = fresh(60000);
	struct probe_answer r,
	    h = http(200, "{\"ok\":true,\"status\":\"live\"}");

	r = http(503, unready_body);
	is_int(probe_eval_round(&e, &r, &h, 2000), PROBE_UNREADY,
	       "OpenClaw starting: 503 / live -> unready");
	ok(e.seen_live, "seen live");
	r = http(200, ready_body);
	is_int(probe_eval_round(&e, &r, &h, 4000), PROBE_READY,
	       "200 ready:true -> ready");
	r = http(200, unready_body);
	is_int(probe_eval_round(&e, &r, &h, 6000), PROBE_UNREADY,
	       "200 but ready:false -> unready");
	r = http(200, ready_body);
	h = http(500, "");
	is_int(probe_eval_round(&e, &r, &h, 8000), PROBE_DOWN,
	       "healthz 500 -> liveness failure");
	is_int(e.failures, 1, "one failure");
	h = http(200, "");
	is_int(probe_eval_round(&e, &r, &h, 10000), PROBE_READY,
	       "an answer resets the count");
	is_int(e.failures, 0, "count reset");
	is_int(e.mode, PROBE_MODE_HTTP, "still HTTP");
}

static void test_fallbacks(void)
{
	struct probe_eval e = fresh(60000);
	struct probe_answer r = http(404, ""), h = http(200, "");

	is_int(probe_eval_round(&e, &r, &h, 2000), PROBE_READY,
	       "no /readyz: a 200 /healthz means ready");
	r = http(503, unready_body);
	h = http(404, "");
	is_int(probe_eval_round(&e, &r, &h, 4000), PROBE_UNREADY,
	       "no /healthz: /readyz answering means live");
	is_int(e.mode, PROBE_MODE_HTTP, "one endpoint served: HTTP");
	r = http(404, "");
	h = http(405, "");
	is_int(probe_eval_round(&e, &r, &h, 6000), PROBE_READY,
	       "serves neither: switch to TCP (it answered)");
	is_int(e.mode, PROBE_MODE_TCP, "TCP mode");
	h = (struct probe_answer){.answered = true};
	is_int(probe_eval_round(&e, NULL, &h, 8000), PROBE_READY,
	       "TCP connect -> ready");
	is_int(probe_eval_round(&e, NULL, &none, 10000), PROBE_DOWN,
	       "TCP refused -> failure");

	e = fresh(60000);
	r = (struct probe_answer){.not_http = true};
	h = (struct probe_answer){.not_http = true};
	is_int(probe_eval_round(&e, &r, &h, 2000), PROBE_READY,
	       "not HTTP: switch to TCP");
	is_int(e.mode, PROBE_MODE_TCP, "TCP mode");

	e = fresh(60000);
	r = http(200, ready_body);
	h = http(200, "");
	(void)probe_eval_round(&e, &r, &h, 2000);
	r = (struct probe_answer){.not_http = true};
	h = none;
	is_int(probe_eval_round(&e, &r, &h, 4000), PROBE_DOWN,
	       "garbage after HTTP answers is a failure, not a mode switch");
	is_int(e.mode, PROBE_MODE_HTTP, "still HTTP");
}

static void test_grace_and_wedge(void)
{
	struct probe_eval e = fresh(60000);
	struct probe_answer r = http(503, unready_body), h = http(200, "");
	uint64_t t = 1000;
	unsigned i;

	for (i = 0; i < 20; i++) {
		t += 2000;
		if (probe_eval_round(&e, &none, &none, t) != PROBE_UNREADY)
			break;
	}
	is_int(i, 20, "no answer within the grace: still starting");
	is_int(e.failures, 20, "failures counted meanwhile");
	is_int(probe_eval_round(&e, &none, &none, 1000 + 60000), PROBE_WEDGED,
	       "after the grace a long silence is a wedge");

	e = fresh(UINT64_MAX);
	for (i = 0; i < 100; i++)
		if (probe_eval_round(&e, &none, &none, 1000 + i * 2000) !=
		    PROBE_UNREADY)
			break;
	is_int(i, 100,
	       "no grace limit (tini mode): never wedged before "
	       "the first answer");

	e = fresh(60000);
	(void)probe_eval_round(&e, &r, &h, 2000);
	for (i = 1; i < PROBE_WEDGED_FAILURES; i++)
		if (probe_eval_round(&e, &none, &none, 2000 + i * 2000) !=
		    PROBE_DOWN)
			break;
	is_int(i, PROBE_WEDGED_FAILURES,
	       "after an answer, failures are 'down' at once");
	is_int(probe_eval_round(&e, &none, &none, 30000), PROBE_WEDGED,
	       "the sixth failure in a row is a wedge");
}

int main(void)
{
	log_set_level(LOG_LEVEL_ERROR);
	test_body();
	test_http();
	test_fallbacks();
	test_grace_and_wedge();
	return tap_done();
}
