/*
 * The Premiere panel's logic, free of CEP, ExtendScript and the DOM so it runs under Node's test
 * runner: file names, SHA-256 of the export, waiting for the sidecar, reading it, and turning
 * suggestions into the marker calls that jsx/mtt.jsx performs.
 *
 * The panel never spawns a process or opens a connection: it exports the active sequence into a
 * folder the mttd daemon watches (`mttd watch add FOLDER`) and waits for NAME.mtt.json there.
 * A sidecar belongs to this export when its source.sha256 is the export's own hash (the watcher
 * keeps an unchanged file's sidecar, so its creation time proves nothing).
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.mttLogic = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var MARKER_TAG = "[mtt]"; // ends the comments of every marker the panel adds, so the next run replaces them
  var FIELD_COLORS = { active: 1, asset: 5, scale: 4, pos_x: 6, pos_y: 6 }; // Premiere's marker colour indexes
  var CROP_COLOR = 0;
  var SEGMENT_COLOR = 3;

  /** A file name for the sequence: no path separators or characters file systems refuse. */
  function safeName(name) {
    var cleaned = String(name || "").replace(/[^\w.() -]+/g, "_").replace(/^[\s.]+|[\s.]+$/g, "");
    return cleaned || "sequence";
  }

  function joinPath(folder, name) {
    var sep = folder.indexOf("\\") >= 0 && folder.indexOf("/") < 0 ? "\\" : "/";
    return folder.replace(/[\\/]+$/, "") + sep + name;
  }

  /** Where the export and its two sidecars live (DESIGN.md: NAME.xml -> NAME.mtt.json, NAME.mtt.xml). */
  function sidecarPaths(folder, sequenceName) {
    var stem = safeName(sequenceName);
    return {
      xml: joinPath(folder, stem + ".xml"),
      json: joinPath(folder, stem + ".mtt.json"),
      suggestedXml: joinPath(folder, stem + ".mtt.xml"),
    };
  }

  // ---- SHA-256 (FIPS 180-4), for matching a sidecar to the export without Node or WebCrypto ----

  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ];

  function rotr(x, n) {
    return (x >>> n) | (x << (32 - n));
  }

  /** Hex SHA-256 of a Uint8Array. */
  function sha256Hex(bytes) {
    var length = bytes.length;
    var padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[length] = 0x80;
    var bits = length * 8;
    var view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(bits / 0x100000000));
    view.setUint32(padded.length - 4, bits >>> 0);
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var w = new Array(64);
    for (var offset = 0; offset < padded.length; offset += 64) {
      for (var i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
      for (i = 16; i < 64; i++) {
        var s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        var s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (i = 0; i < 64; i++) {
        var t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h = [h[0] + a, h[1] + b, h[2] + c, h[3] + d, h[4] + e, h[5] + f, h[6] + g, h[7] + hh];
    }
    return h.map(function (x) { return ("00000000" + (x >>> 0).toString(16)).slice(-8); }).join("");
  }

  var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

  /** Bytes of a base64 string (cep.fs reads binary files as base64). */
  function base64ToBytes(text) {
    var clean = String(text).replace(/[^A-Za-z0-9+/]/g, "");
    var out = new Uint8Array(Math.floor((clean.length * 3) / 4));
    var n = 0, acc = 0, bits = 0;
    for (var i = 0; i < clean.length; i++) {
      acc = (acc << 6) | B64.indexOf(clean.charAt(i));
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[n++] = (acc >> bits) & 0xff;
      }
    }
    return out.subarray(0, n);
  }

  // ---- the sidecar ----

  /** The document, or null while the text is not (yet) a suggestions document. */
  function parseSidecar(text) {
    if (text === null || text === undefined || text === "") return null;
    var doc;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      return null;
    }
    if (!doc || typeof doc !== "object" || doc.schema !== "mtt.suggestions/1") return null;
    if (!doc.error && !Array.isArray(doc.sequences)) return null;
    return doc;
  }

  function belongsTo(doc, exportSha256) {
    return !!doc && !!doc.source && doc.source.sha256 === exportSha256;
  }

  /**
   * Poll `read(path)` (text or null) every intervalMs until the sidecar for this export appears;
   * resolves with the document (an error document too: the caller shows its message), rejects
   * after timeoutMs. `sleep(ms)` returns a promise; both are injected so tests control time.
   */
  function waitForSidecar(options) {
    var started = options.now();
    function poll() {
      var doc = parseSidecar(options.read(options.path));
      if (belongsTo(doc, options.sha256)) return Promise.resolve(doc);
      if (options.now() - started >= options.timeoutMs) {
        return Promise.reject(new Error(
          "No suggestions after " + Math.round(options.timeoutMs / 1000) + " s: is the folder watched? " +
          "Run `mttd watch add " + options.folder + "` and check `mttd status`."));
      }
      return options.sleep(options.intervalMs).then(poll);
    }
    return poll();
  }

  function errorMessage(doc) {
    if (!doc || !doc.error) return "";
    return "mttd could not read the export: " + (doc.error.message || doc.error.code || "unknown error");
  }

  // ---- suggestions -> rows and marker calls ----

  function valueText(value) {
    if (value === null || value === undefined) return "-";
    if (typeof value === "number") return String(Math.round(value * 1000) / 1000);
    if (typeof value === "object") return String(value.name || value.slot);
    return String(value);
  }

  function percent(confidence) {
    return Math.round((confidence || 0) * 100) + "%";
  }

  function eachItem(doc, visit) {
    (doc.sequences || []).forEach(function (seq) {
      ["review", "next", "fill"].forEach(function (kind) {
        (seq[kind] || []).forEach(function (item) { visit(kind, item, seq); });
      });
    });
  }

  /** Where the suggested clip starts and ends in its media: the sidecar's source_in/source_out
   * (frames, as xmeml's <in>/<out>, out exclusive), for the editor to set in the Source Monitor. */
  function sourceRange(item) {
    if (typeof item.source_in !== "number") return "";
    var text = "source in " + item.source_in;
    if (typeof item.source_out === "number" && item.source_out > item.source_in) text += ", out " + item.source_out;
    return text + "; ";
  }

  /** One row per suggestion for the panel's list. */
  function suggestionRows(doc) {
    var rows = [];
    eachItem(doc, function (kind, item) {
      if (kind === "review") {
        rows.push({
          kind: kind, time: item.start_tc, track: "V" + item.track,
          title: item.field + ": " + valueText(item.current) + " -> " + valueText(item.suggested) + " (" + percent(item.confidence) + ")",
          reason: item.reason || "",
        });
      } else {
        var source = item.source || {};
        rows.push({
          kind: kind, time: item.start_tc, track: "V" + item.track,
          title: kind + ": " + (source.name || "?") + " (" + percent(item.confidence) + ")",
          reason: sourceRange(item) + "scale " + valueText(item.scale) + ", centre " + valueText(item.pos_x) + "/" + valueText(item.pos_y) +
            ", crop " + [item.crop_l, item.crop_r, item.crop_t, item.crop_b].map(valueText).join("/"),
        });
      }
    });
    return rows;
  }

  /**
   * The markers to add to the active sequence: {start, end (seconds), name, comments, color}.
   * Review items are named like the Blender add-on's ("mtt: <field> V<track>"); next and fill
   * segments name their source. Every comment ends with MARKER_TAG.
   */
  function markerCalls(doc) {
    var calls = [];
    eachItem(doc, function (kind, item) {
      var row;
      if (kind === "review") {
        row = {
          name: "mtt: " + item.field + " V" + item.track,
          comments: (item.reason || "") + " (" + valueText(item.current) + " -> " + valueText(item.suggested) + ", " + percent(item.confidence) + ")",
          color: FIELD_COLORS.hasOwnProperty(item.field) ? FIELD_COLORS[item.field] : CROP_COLOR,
        };
      } else {
        row = {
          name: "mtt " + kind + ": " + ((item.source || {}).name || "?") + " V" + item.track,
          comments: suggestionRows({ sequences: [{ next: [item] }] })[0].reason,
          color: SEGMENT_COLOR,
        };
      }
      row.start = item.start_s;
      row.end = Math.max(item.end_s, item.start_s);
      row.comments = row.comments + " " + MARKER_TAG;
      calls.push(row);
    });
    return calls;
  }

  /** A value as ExtendScript source: ExtendScript (ES3) has no JSON.parse, but JSON is literal
   * syntax once U+2028/U+2029 (line breaks inside ES3 strings) are escaped too. */
  function literal(value) {
    return JSON.stringify(value).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  }

  /** The ExtendScript source of a call to one of jsx/mtt.jsx's functions. */
  function callScript(fn, args) {
    return fn + "(" + args.map(literal).join(", ") + ")";
  }

  /**
   * What the Suggest button does: export the active sequence into the watched folder, wait for
   * the daemon's sidecar made from that very export, list it and put its markers on the sequence.
   * `io`: callJsx(fn, args) -> Promise of mtt.jsx's reply, readText(path) -> text or null,
   * readBytes(path) -> Uint8Array, now(), sleep(ms) -> Promise, show(text), intervalMs, timeoutMs.
   * Resolves with {rows, markers, paths, message}; rejects with an Error whose message is for the editor.
   */
  function suggestFlow(folder, io) {
    var paths, doc;
    return io.callJsx("mttActiveSequence", []).then(function (seq) {
      if (!seq.ok) throw new Error(seq.error);
      paths = sidecarPaths(folder, seq.name);
      io.show("Exporting " + seq.name + " ...");
      return io.callJsx("mttExportActive", [paths.xml]);
    }).then(function (exported) {
      if (!exported.ok) throw new Error(exported.error);
      io.show("Waiting for mttd's suggestions ...");
      return waitForSidecar({
        read: io.readText, path: paths.json, sha256: sha256Hex(io.readBytes(paths.xml)), folder: folder,
        now: io.now, sleep: io.sleep, intervalMs: io.intervalMs, timeoutMs: io.timeoutMs,
      });
    }).then(function (found) {
      doc = found;
      if (doc.error) throw new Error(errorMessage(doc));
      return io.callJsx("mttReplaceMarkers", [markerCalls(doc), MARKER_TAG]);
    }).then(function (marked) {
      if (!marked.ok) throw new Error(marked.error);
      return {
        rows: suggestionRows(doc), markers: marked.added, paths: paths,
        message: marked.added + " suggestions, added as markers (" + marked.removed + " old ones removed).",
      };
    });
  }

  return {
    MARKER_TAG: MARKER_TAG,
    safeName: safeName,
    sidecarPaths: sidecarPaths,
    sha256Hex: sha256Hex,
    base64ToBytes: base64ToBytes,
    parseSidecar: parseSidecar,
    belongsTo: belongsTo,
    waitForSidecar: waitForSidecar,
    errorMessage: errorMessage,
    suggestionRows: suggestionRows,
    markerCalls: markerCalls,
    callScript: callScript,
    suggestFlow: suggestFlow,
  };
});
