/*
 * The panel's glue to CEP: buttons, the watched-folder setting, files through cep.fs and calls
 * into jsx/mtt.jsx through evalScript. Decisions live in mtt_logic.js (tested under Node).
 * No process is spawned and no connection opened: mttd's folder watcher does the work.
 */
(function () {
  "use strict";

  var logic = window.mttLogic;
  var FOLDER_KEY = "mtt.watchedFolder";
  var POLL_MS = 500;
  var TIMEOUT_MS = 90000; // a cold daemon loads its model first

  function byId(id) {
    return document.getElementById(id);
  }

  function show(text) {
    byId("status").textContent = text;
  }

  function callJsx(fn, args) {
    return new Promise(function (resolve) {
      window.__adobe_cep__.evalScript(logic.callScript(fn, args), function (text) {
        try {
          resolve(JSON.parse(text));
        } catch (e) {
          resolve({ ok: false, error: "ExtendScript answered: " + text });
        }
      });
    });
  }

  function readText(path) {
    var result = window.cep.fs.readFile(path);
    return result.err === window.cep.fs.NO_ERROR ? result.data : null;
  }

  function readBytes(path) {
    var result = window.cep.fs.readFile(path, window.cep.encoding.Base64);
    if (result.err !== window.cep.fs.NO_ERROR) throw new Error("Cannot read the export " + path);
    return logic.base64ToBytes(result.data);
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function folder() {
    return window.localStorage.getItem(FOLDER_KEY) || "";
  }

  function showFolder() {
    var chosen = folder();
    byId("folder").textContent = chosen || "(none)";
    byId("watch-hint").textContent = chosen ? "mttd watch add \"" + chosen + "\"" : "";
  }

  function chooseFolder() {
    var picked = window.cep.fs.showOpenDialogEx(false, true, "Folder that mttd watches", folder() || undefined);
    if (picked.err === window.cep.fs.NO_ERROR && picked.data && picked.data.length) {
      window.localStorage.setItem(FOLDER_KEY, picked.data[0]);
      showFolder();
    }
  }

  function render(rows) {
    var list = byId("suggestions");
    list.innerHTML = "";
    rows.forEach(function (row) {
      var item = document.createElement("li");
      item.className = row.kind;
      var head = document.createElement("div");
      head.textContent = row.time + " " + row.track + " " + row.title;
      var reason = document.createElement("div");
      reason.className = "reason";
      reason.textContent = row.reason;
      item.appendChild(head);
      item.appendChild(reason);
      list.appendChild(item);
    });
  }

  async function suggest() {
    var watched = folder();
    if (!watched) return show("Choose the folder mttd watches first (then run the command shown).");
    var result = await logic.suggestFlow(watched, {
      callJsx: callJsx, readText: readText, readBytes: readBytes, now: Date.now, sleep: sleep, show: show,
      intervalMs: POLL_MS, timeoutMs: TIMEOUT_MS,
    });
    render(result.rows);
    byId("import").disabled = false;
    byId("import").dataset.path = result.paths.suggestedXml;
    show(result.message);
  }

  async function importSuggested() {
    var result = await callJsx("mttImportSuggested", [byId("import").dataset.path]);
    show(result.ok ? "Imported " + result.path : result.error);
  }

  byId("choose").addEventListener("click", chooseFolder);
  byId("suggest").addEventListener("click", function () {
    suggest().catch(function (err) { show(String(err.message || err)); });
  });
  byId("import").addEventListener("click", function () {
    importSuggested().catch(function (err) { show(String(err.message || err)); });
  });
  showFolder();
})();
