// The panel's Suggest flow (mtt_logic.suggestFlow) with real files, real timers and the real mttd
// folder watcher; Premiere is the recording fake of fake_premiere.js, whose export copies SOURCE.
// Run by tests/test_plugin_premiere_daemon.py:  node premiere_flow.js WATCHED_FOLDER SOURCE_XML
"use strict";

const fs = require("node:fs");
const logic = require("../../plugin_bridge/premiere/js/mtt_logic.js");
const { fakePremiere, callJsx } = require("./fake_premiere.js");

const [folder, source] = process.argv.slice(2);
const calls = [];
const sequence = { name: "Cut", exportFrom: source, existing: [{ name: "editor's", comments: "mine", start: { seconds: 1 } }] };
const context = fakePremiere(calls, sequence);

logic.suggestFlow(folder, {
  callJsx: (fn, args) => Promise.resolve(callJsx(context, fn, args)),
  readText: (p) => (fs.existsSync(p) ? fs.readFileSync(p, "utf8") : null),
  readBytes: (p) => new Uint8Array(fs.readFileSync(p)),
  now: Date.now,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  show: () => {},
  intervalMs: 200,
  timeoutMs: 60000,
}).then((result) => {
  const markers = sequence.markers.list.map((m) => ({ name: m.name, start: m.start.seconds, end: m.end, comments: m.comments }));
  console.log(JSON.stringify({ message: result.message, rows: result.rows.length, paths: result.paths, markers }));
}, (err) => {
  console.log(JSON.stringify({ error: err.message }));
  process.exitCode = 1;
});
