// plugin_bridge/premiere/jsx/mtt.jsx in a Node vm against a recording fake of the Premiere Pro
// ExtendScript calls it uses (app.project.activeSequence, exportAsFinalCutProXML, markers,
// importFiles, File). The panel's own argument encoding (mtt_logic.callScript) feeds it.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const logic = require("../../plugin_bridge/premiere/js/mtt_logic.js");
const { fakePremiere, callJsx: run } = require("./fake_premiere.js");

const DOCUMENT = JSON.parse(fs.readFileSync(path.join(__dirname, "sidecar_example.mtt.json"), "utf8"));

test("no active sequence is a clear error for every call", () => {
  const calls = [];
  const context = fakePremiere(calls, null);
  for (const [fn, args] of [["mttActiveSequence", []], ["mttExportActive", ["/x.xml"]], ["mttReplaceMarkers", [[], "[mtt]"]]]) {
    assert.deepEqual(run(context, fn, args), { ok: false, error: "Open a sequence first: the panel works on the active sequence." });
  }
  assert.deepEqual(calls, []);
});

test("export writes the active sequence to the watched folder without dialogs", () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "mtt-ppro-"));
  const calls = [];
  const context = fakePremiere(calls, { name: "Cut \"A\"" });
  assert.deepEqual(run(context, "mttActiveSequence", []), { ok: true, name: "Cut \"A\"" });
  const paths = logic.sidecarPaths(folder, "Cut \"A\"");
  assert.deepEqual(run(context, "mttExportActive", [paths.xml]), { ok: true, path: paths.xml, name: "Cut \"A\"" });
  assert.deepEqual(calls, [["exportAsFinalCutProXML", paths.xml, 1]]);
  assert.ok(fs.existsSync(paths.xml));
});

test("markers replace the previous run's and keep the editor's own", () => {
  const calls = [];
  const existing = [
    { name: "editor's", comments: "keep me", start: { seconds: 3 } },
    { name: "mtt: old", comments: "from last time [mtt]", start: { seconds: 5 } },
  ];
  const context = fakePremiere(calls, { name: "Cut", existing });
  const markerCalls = logic.markerCalls(DOCUMENT);
  assert.deepEqual(run(context, "mttReplaceMarkers", [markerCalls, logic.MARKER_TAG]), { ok: true, removed: 1, added: 4 });
  assert.deepEqual(calls.filter((c) => c[0] === "deleteMarker"), [["deleteMarker", "mtt: old"]]);
  assert.deepEqual(calls.filter((c) => c[0] === "createMarker").map((c) => c[1]), [1, 4, 12, 8]);
  const names = existing.map((m) => m.name);
  assert.deepEqual(names, ["editor's", "mtt: scale V2", "mtt: asset V1", "mtt next: a.mov V1", "mtt fill: ? V3"]);
  const scale = existing[1];
  assert.deepEqual([scale.end, scale.color, scale.comments], [2.5, 4, "scaled unlike its siblings (180 -> 100, 91%) [mtt]"]);
});

test("importing the suggested timeline goes through importFiles only when it exists", () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "mtt-ppro-"));
  const calls = [];
  const context = fakePremiere(calls, { name: "Cut" });
  const paths = logic.sidecarPaths(folder, "Cut");
  assert.deepEqual(run(context, "mttImportSuggested", [paths.suggestedXml]), { ok: false, error: "No suggested timeline at " + paths.suggestedXml });
  fs.writeFileSync(paths.suggestedXml, "<xmeml version=\"4\"/>");
  assert.deepEqual(run(context, "mttImportSuggested", [paths.suggestedXml]), { ok: true, path: paths.suggestedXml });
  assert.deepEqual(calls, [["getInsertionBin"], ["importFiles", [paths.suggestedXml], true, "BIN", false]]);
});

test("the Suggest flow exports, waits for the sidecar of that export and marks it", async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "mtt-ppro-"));
  const calls = [];
  const sequence = { name: "Cut", existing: [] };
  const context = fakePremiere(calls, sequence);
  const paths = logic.sidecarPaths(folder, "Cut");
  let polls = 0;
  const shown = [];
  const result = await logic.suggestFlow(folder, {
    callJsx: (fn, args) => Promise.resolve(run(context, fn, args)),
    readText: (p) => {  // a watcher that answers on the third poll, for the bytes just exported
      assert.equal(p, paths.json);
      if (++polls < 3) return null;
      const sha256 = logic.sha256Hex(new Uint8Array(fs.readFileSync(paths.xml)));
      return JSON.stringify({ ...DOCUMENT, source: { ...DOCUMENT.source, sha256 } });
    },
    readBytes: (p) => new Uint8Array(fs.readFileSync(p)),
    now: () => polls * 500, sleep: () => Promise.resolve(), show: (t) => shown.push(t), intervalMs: 500, timeoutMs: 5000,
  });
  assert.equal(polls, 3);
  assert.deepEqual(shown, ["Exporting Cut ...", "Waiting for mttd's suggestions ..."]);
  assert.equal(result.message, "4 suggestions, added as markers (0 old ones removed).");
  assert.equal(result.paths.suggestedXml, paths.suggestedXml);
  assert.deepEqual(sequence.markers.list.map((m) => m.name), logic.markerCalls(DOCUMENT).map((c) => c.name));
});

test("the Suggest flow reports an error document instead of marking", async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "mtt-ppro-"));
  const calls = [];
  const context = fakePremiere(calls, { name: "Cut" });
  const paths = logic.sidecarPaths(folder, "Cut");
  await assert.rejects(logic.suggestFlow(folder, {
    callJsx: (fn, args) => Promise.resolve(run(context, fn, args)),
    readText: () => JSON.stringify({ schema: "mtt.suggestions/1",
      source: { path: paths.xml, sha256: logic.sha256Hex(new Uint8Array(fs.readFileSync(paths.xml))), size: 1 },
      error: { code: "invalid_timeline", message: "Cut.xml line 1: not a timeline", line: 1 } }),
    readBytes: (p) => new Uint8Array(fs.readFileSync(p)),
    now: () => 0, sleep: () => Promise.resolve(), show: () => {}, intervalMs: 500, timeoutMs: 5000,
  }), /mttd could not read the export: Cut.xml line 1: not a timeline/);
  assert.ok(!calls.some((c) => c[0] === "createMarker"));
});
