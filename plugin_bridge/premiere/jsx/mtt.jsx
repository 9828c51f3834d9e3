/*
 * ExtendScript side of the mttd panel: the only code that touches Premiere Pro's object model.
 * ExtendScript is ES3 (no JSON, no Array.prototype.forEach, no String.prototype.trim): results go
 * back to the panel as JSON text built by hand; arguments arrive as object literals.
 */

function mttQuote(text) {
    var s = String(text);
    var out = "\"";
    for (var i = 0; i < s.length; i++) {
        var c = s.charAt(i);
        var code = s.charCodeAt(i);
        if (c === "\"" || c === "\\") {
            out += "\\" + c;
        } else if (code < 32 || code === 0x2028 || code === 0x2029) {
            out += "\\u" + ("0000" + code.toString(16)).slice(-4);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

function mttReply(ok, fields) {
    var parts = ["\"ok\":" + (ok ? "true" : "false")];
    for (var key in fields) {
        if (fields.hasOwnProperty(key)) {
            var value = fields[key];
            parts.push(mttQuote(key) + ":" + (typeof value === "number" || typeof value === "boolean" ? String(value) : mttQuote(value)));
        }
    }
    return "{" + parts.join(",") + "}";
}

/** The active sequence's name, or an error when none is open. */
function mttActiveSequence() {
    var seq = app.project.activeSequence;
    if (!seq) {
        return mttReply(false, {error: "Open a sequence first: the panel works on the active sequence."});
    }
    return mttReply(true, {name: seq.name});
}

/** Export the active sequence as FCP 7 XML to `path` (in the watched folder), without dialogs. */
function mttExportActive(path) {
    var seq = app.project.activeSequence;
    if (!seq) {
        return mttReply(false, {error: "Open a sequence first: the panel works on the active sequence."});
    }
    seq.exportAsFinalCutProXML(path, 1); // 1 = suppress the UI
    if (!new File(path).exists) {
        return mttReply(false, {error: "Premiere did not write " + path});
    }
    return mttReply(true, {path: path, name: seq.name});
}

/** Remove the markers an earlier run added (comments ending with `tag`), then add `calls`. */
function mttReplaceMarkers(calls, tag) {
    var seq = app.project.activeSequence;
    if (!seq) {
        return mttReply(false, {error: "Open a sequence first: the panel works on the active sequence."});
    }
    var markers = seq.markers;
    var old = [];
    for (var m = markers.getFirstMarker(); m !== undefined && m !== null; m = markers.getNextMarker(m)) {
        var comments = String(m.comments || "");
        if (comments.length >= tag.length && comments.slice(comments.length - tag.length) === tag) {
            old.push(m);
        }
    }
    for (var i = 0; i < old.length; i++) {
        markers.deleteMarker(old[i]);
    }
    for (var j = 0; j < calls.length; j++) {
        var call = calls[j];
        var marker = markers.createMarker(call.start);
        marker.name = call.name;
        marker.comments = call.comments;
        marker.end = call.end;
        marker.setColorByIndex(call.color);
    }
    return mttReply(true, {removed: old.length, added: calls.length});
}

/** Import NAME.mtt.xml (the original sequence plus "NAME (mtt suggestions)") into the project. */
function mttImportSuggested(path) {
    if (!new File(path).exists) {
        return mttReply(false, {error: "No suggested timeline at " + path});
    }
    var done = app.project.importFiles([path], true, app.project.getInsertionBin(), false);
    return mttReply(done !== false, {path: path});
}
