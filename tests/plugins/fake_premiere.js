// A recording fake of the Premiere Pro ExtendScript calls jsx/mtt.jsx uses (app.project.activeSequence,
// exportAsFinalCutProXML, markers, importFiles, File), with mtt.jsx loaded into it in a Node vm.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const logic = require("../../plugin_bridge/premiere/js/mtt_logic.js");

const JSX = fs.readFileSync(path.join(__dirname, "../../plugin_bridge/premiere/jsx/mtt.jsx"), "utf8");

/** `sequence` ({name, existing markers, exportFrom: a file Premiere's export copies}) or null. */
function fakePremiere(calls, sequence) {
  class MarkerCollection {
    constructor(list) { this.list = list; }
    getFirstMarker() { calls.push(["getFirstMarker"]); return this.list[0]; }
    getNextMarker(m) { calls.push(["getNextMarker"]); return this.list[this.list.indexOf(m) + 1]; }
    deleteMarker(m) { calls.push(["deleteMarker", m.name]); this.list.splice(this.list.indexOf(m), 1); return true; }
    createMarker(seconds) {
      calls.push(["createMarker", seconds]);
      const marker = { name: "", comments: "", start: { seconds }, end: seconds, color: 0,
        setColorByIndex(i) { calls.push(["setColorByIndex", i]); this.color = i; } };
      this.list.push(marker);
      return marker;
    }
  }
  if (sequence) {
    sequence.markers = new MarkerCollection(sequence.existing || []);
    sequence.exportAsFinalCutProXML = (file, suppressUI) => {
      calls.push(["exportAsFinalCutProXML", file, suppressUI]);
      if (sequence.exportFrom) fs.copyFileSync(sequence.exportFrom, file);
      else fs.writeFileSync(file, "<xmeml version=\"4\"/>");
      return true;
    };
  }
  const project = {
    activeSequence: sequence,
    getInsertionBin() { calls.push(["getInsertionBin"]); return "BIN"; },
    importFiles(paths, suppressUI, bin, numbered) {
      calls.push(["importFiles", Array.from(paths), suppressUI, bin, numbered]); // out of the vm's realm
      return true;
    },
  };
  function File(p) { this.exists = fs.existsSync(p); }
  const context = vm.createContext({ app: { project }, File });
  vm.runInContext(JSX, context);
  return context;
}

/** Call one of mtt.jsx's functions the way the panel does (mtt_logic.callScript) and parse its reply. */
function callJsx(context, fn, args) {
  return JSON.parse(vm.runInContext(logic.callScript(fn, args), context));
}

module.exports = { fakePremiere, callJsx };
