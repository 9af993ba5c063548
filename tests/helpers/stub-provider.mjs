// SPDX-License-Identifier: MIT
//
// stub-provider.mjs PORT-FILE: an OpenAI-compatible model provider on
// 127.0.0.1 (a port the kernel picks, written to PORT-FILE), for the
// end-to-end tests: GET /v1/models and POST /v1/chat/completions (SSE
// chunks when "stream" is true), always answering STUB-REPLY-OK. One JSON
// line per request on stdout: method, path, and whether the bearer token
// was $EXPECT_KEY (never the token itself).
import fs from "node:fs";
import http from "node:http";

const portFile = process.argv[2];
const expect = process.env.EXPECT_KEY || "";
const REPLY = "STUB-REPLY-OK";

function json(res, code, obj) {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(obj));
}

const srv = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let body = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString() || "{}");
    } catch {
      body = {};
    }
    console.log(JSON.stringify({
      m: req.method, p: req.url,
      authOk: (req.headers.authorization || "") === `Bearer ${expect}`,
      stream: !!body.stream,
    }));
    if (req.url.startsWith("/v1/models")) {
      json(res, 200, { object: "list", data: [
        { id: "Stub-Model", object: "model", created: 0, owned_by: "stub" }] });
      return;
    }
    if (!req.url.startsWith("/v1/chat/completions")) {
      json(res, 404, { error: { message: "not found" } });
      return;
    }
    const id = "chatcmpl-stub";
    const created = Math.floor(Date.now() / 1000);
    const model = body.model || "Stub-Model";
    const usage = { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 };
    if (!body.stream) {
      json(res, 200, { id, object: "chat.completion", created, model, usage,
        choices: [{ index: 0, finish_reason: "stop",
          message: { role: "assistant", content: REPLY } }] });
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (o) => res.write(`data: ${JSON.stringify(o)}\n\n`);
    const chunk = (delta, finish) => send({ id, object: "chat.completion.chunk",
      created, model, choices: [{ index: 0, delta, finish_reason: finish }] });
    chunk({ role: "assistant", content: "" }, null);
    chunk({ content: REPLY }, null);
    chunk({}, "stop");
    send({ id, object: "chat.completion.chunk", created, model, choices: [], usage });
    res.end("data: [DONE]\n\n");
  });
});
srv.listen(0, "127.0.0.1", () => {
  fs.writeFileSync(portFile, String(srv.address().port));
});
