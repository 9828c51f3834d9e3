// The Premiere panel's logic (plugin_bridge/premiere/js/mtt_logic.js) under Node's test runner.
// Run by tests/test_plugin_premiere.py as `node --test tests/plugins/`.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const logic = require("../../plugin_bridge/premiere/js/mtt_logic.js");

const DOCUMENT = JSON.parse(fs.readFileSync(path.join(__dirname, "sidecar_example.mtt.json"), "utf8"));

test("sha256 matches Node's for empty, block-edge and large inputs", () => {
  for (const size of [0, 1, 55, 56, 63, 64, 65, 1000, 100003]) {
    const bytes = crypto.randomBytes(size);
    assert.equal(logic.sha256Hex(new Uint8Array(bytes)), crypto.createHash("sha256").update(bytes).digest("hex"), `size ${size}`);
  }
});

test("base64 decoding gives the file's bytes back", () => {
  for (const size of [0, 1, 2, 3, 4, 1001]) {
    const bytes = crypto.randomBytes(size);
    assert.deepEqual(Buffer.from(logic.base64ToBytes(bytes.toString("base64"))), bytes);
  }
});

test("sidecar paths follow NAME.xml -> NAME.mtt.json / NAME.mtt.xml with a safe name", () => {
  assert.deepEqual(logic.sidecarPaths("/work/watched/", "Reel 2/final: v3"), {
    xml: "/work/watched/Reel 2_final_ v3.xml",
    json: "/work/watched/Reel 2_final_ v3.mtt.json",
    suggestedXml: "/work/watched/Reel 2_final_ v3.mtt.xml",
  });
  assert.equal(logic.sidecarPaths("C:\\Edits", "Cut").json, "C:\\Edits\\Cut.mtt.json");
  assert.equal(logic.safeName(" .. "), "sequence");
});

test("parseSidecar accepts documents and error documents, nothing else", () => {
  assert.equal(logic.parseSidecar(null), null);
  assert.equal(logic.parseSidecar("{\"schema\": \"mtt.suggestions/1\", \"sequ"), null); // half-written
  assert.equal(logic.parseSidecar("{\"schema\": \"other\", \"sequences\": []}"), null);
  assert.equal(logic.parseSidecar(JSON.stringify(DOCUMENT)).sequences.length, 1);
  const error = logic.parseSidecar(JSON.stringify({ schema: "mtt.suggestions/1", source: { sha256: "ab" },
    error: { code: "invalid_timeline", message: "cut.xml line 3: not xmeml", line: 3 } }));
  assert.equal(logic.errorMessage(error), "mttd could not read the export: cut.xml line 3: not xmeml");
});

function clock() {
  let now = 0;
  return { now: () => now, sleep: (ms) => { now += ms; return Promise.resolve(); } };
}

test("waitForSidecar ignores stale and partial sidecars and returns the one made from this export", async () => {
  const stale = JSON.stringify({ ...DOCUMENT, source: { ...DOCUMENT.source, sha256: "old" } });
  const fresh = JSON.stringify(DOCUMENT);
  const reads = [null, stale, fresh.slice(0, 40), fresh];
  const seen = [];
  const time = clock();
  const doc = await logic.waitForSidecar({
    read: (p) => { seen.push(p); return reads.shift(); }, path: "/w/cut.mtt.json", sha256: DOCUMENT.source.sha256,
    folder: "/w", now: time.now, sleep: time.sleep, intervalMs: 500, timeoutMs: 10000,
  });
  assert.equal(doc.source.sha256, DOCUMENT.source.sha256);
  assert.equal(seen.length, 4);
  assert.equal(time.now(), 1500);
});

test("waitForSidecar gives up with the watch command to run", async () => {
  const time = clock();
  await assert.rejects(
    logic.waitForSidecar({ read: () => null, path: "/w/cut.mtt.json", sha256: "x", folder: "/w",
      now: time.now, sleep: time.sleep, intervalMs: 500, timeoutMs: 3000 }),
    /No suggestions after 3 s: .*mttd watch add \/w/);
  assert.equal(time.now(), 3000);
});

test("review items become named markers with the reason; segments name their source", () => {
  const calls = logic.markerCalls(DOCUMENT);
  assert.equal(calls.length, 4);
  assert.deepEqual(calls[0], {
    name: "mtt: scale V2", start: 1.0, end: 2.5, color: 4,
    comments: "scaled unlike its siblings (180 -> 100, 91%) [mtt]",
  });
  assert.equal(calls[1].name, "mtt: asset V1");
  assert.match(calls[1].comments, /^breaks the alternation \(b\.mov -> a\.mov, 70%\) \[mtt\]$/);
  assert.deepEqual([calls[2].name, calls[2].start, calls[2].end, calls[2].color], ["mtt next: a.mov V1", 12, 14, 3]);
  assert.equal(calls[2].comments, "source in 300, out 348; scale 150, centre 0.25/-0.1, crop 10/0/5/0 [mtt]");
  assert.equal(calls[3].name, "mtt fill: ? V3"); // a source without a name
  for (const call of calls) assert.ok(call.comments.endsWith(logic.MARKER_TAG));
});

test("panel rows list every suggestion with its reason", () => {
  const rows = logic.suggestionRows(DOCUMENT);
  assert.deepEqual(rows.map((r) => r.kind), ["review", "review", "next", "fill"]);
  assert.deepEqual(rows[0], { kind: "review", time: "00:00:01:00", track: "V2",
    title: "scale: 180 -> 100 (91%)", reason: "scaled unlike its siblings" });
  assert.match(rows[3].reason, /^source in 0, out 36; scale 100,/); // the fill's media range
  const older = { sequences: [{ next: [Object.assign({}, DOCUMENT.sequences[0].next[0], { source_in: undefined })] }] };
  assert.match(logic.suggestionRows(older)[0].reason, /^scale 150,/); // a document without one
});

test("call scripts are ExtendScript literals, line separators escaped", () => {
  const source = logic.callScript("mttReplaceMarkers", [[{ name: "a\"b\u2028c" }], "[mtt]"]);
  assert.equal(source, "mttReplaceMarkers([{\"name\":\"a\\\"b\\u2028c\"}], \"[mtt]\")");
  assert.ok(!source.includes("\u2028"));
});
