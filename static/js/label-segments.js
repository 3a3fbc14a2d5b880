/*
 * Step split and merge on the labeling page. A segmentation is the list of labeled steps, each
 * a list of pieces [served step, start, end] of the served steps, read in order (the server
 * checks the same rule: labeling/services/segments.py). The served solution never changes; the
 * page re-renders the steps from the pieces, moves the ratings of untouched steps along and
 * drops those of the steps it cut or joined (they are new steps, to be rated anew).
 */
(function (global) {
  "use strict";

  // Offsets count code points, as Python's str does (not UTF-16 units: a 𝑥 or an emoji is one).
  function cps(s) { return Array.from(s); }
  function cpLen(s) { return cps(s).length; }
  function cpSlice(s, a, b) { return cps(s).slice(a, b).join(""); }

  function identity(served) {
    return served.map(function (t, i) { return [[i, 0, cpLen(t)]]; });
  }

  function isIdentity(spans, served) {
    return spans.length === served.length && spans.every(function (p, i) {
      return p.length === 1 && p[0][0] === i && p[0][1] === 0 && p[0][2] === cpLen(served[i]);
    });
  }

  // The text of a labeled step: its pieces trimmed, one per line (as the server builds it).
  // Positions (start, lead, len) are in code points of that text.
  function layout(pieces, served) {
    var parts = [], pos = 0;
    pieces.forEach(function (p, j) {
      var raw = cpSlice(served[p[0]], p[1], p[2]);
      var trimmed = raw.trim();
      if (!trimmed) return;
      if (parts.length) pos += 1;  // the newline between pieces
      parts.push({ j: j, start: pos, lead: cpLen(raw) - cpLen(raw.replace(/^\s+/, "")), len: cpLen(trimmed),
        text: trimmed });
      pos += cpLen(trimmed);
    });
    return parts;
  }

  function text(pieces, served) {
    return layout(pieces, served).map(function (p) { return p.text; }).join("\n");
  }

  // Per labeled step, the served step it is in full, or null when it was cut or joined.
  function wholeSteps(spans) {
    return spans.map(function (seg, k) {
      var i = seg[0][0];
      var cut = k + 1 < spans.length && spans[k + 1][0][0] === i;
      return seg.length === 1 && seg[0][1] === 0 && !cut ? i : null;
    });
  }

  function copy(spans) { return spans.map(function (seg) { return seg.map(function (p) { return p.slice(); }); }); }

  // Split labeled step k at `caret` (an offset into its text); null when the caret is at an end.
  function split(spans, served, k, caret) {
    var parts = layout(spans[k], served);
    var seg = spans[k];
    for (var q = 0; q < parts.length; q++) {
      var part = parts[q];
      if (caret < part.start || caret > part.start + part.len) continue;
      var at = caret - part.start;
      var left, right;
      if (at === 0) {
        if (q === 0) return null;
        left = seg.slice(0, part.j); right = seg.slice(part.j);
      } else if (at === part.len) {
        if (q === parts.length - 1) return null;
        left = seg.slice(0, part.j + 1); right = seg.slice(part.j + 1);
      } else {
        var p = seg[part.j], off = p[1] + part.lead + at;
        left = seg.slice(0, part.j).concat([[p[0], p[1], off]]);
        right = [[p[0], off, p[2]]].concat(seg.slice(part.j + 1));
      }
      var out = copy(spans);
      out.splice(k, 1, copy([left])[0], copy([right])[0]);
      return out;
    }
    return null;
  }

  // Join labeled step k with the next; two halves of one served step become one piece again.
  function merge(spans, k) {
    if (k < 0 || k + 1 >= spans.length) return null;
    var a = copy([spans[k]])[0], b = copy([spans[k + 1]])[0];
    var last = a[a.length - 1], first = b[0];
    if (last[0] === first[0] && last[2] === first[1]) { last[2] = first[2]; b.shift(); }
    var out = copy(spans);
    out.splice(k, 2, a.concat(b));
    return out;
  }

  // Move index-keyed state (labels, notes) along an edit of step k: split or merge.
  function remap(map, k, kind) {
    var out = {};
    Object.keys(map).forEach(function (key) {
      var j = Number(key);
      if (j < k) out[j] = map[key];
      else if (kind === "split" && j > k) out[j + 1] = map[key];
      else if (kind === "merge" && j > k + 1) out[j - 1] = map[key];
    });
    return out;
  }

  // The step objects of a segmentation (suggestions kept on the steps left whole).
  function stepsFor(spans, served, servedHints) {
    var whole = wholeSteps(spans);
    return spans.map(function (pieces, i) {
      return { index: i, text: text(pieces, served), rating: null, flagged: false, critique: "", error_types: [],
        suggested: whole[i] === null ? null : servedHints[whole[i]] };
    });
  }

  // A caret in the split box (UTF-16 units of its value, where a textarea drops \r) as a code point
  // index into the step's text.
  function caretIndex(stepText, value, caret) {
    var want = cps(value.slice(0, caret)), have = cps(stepText), i = 0, j = 0;
    while (j < want.length && i < have.length) {
      if (have[i] === want[j]) { i++; j++; } else if (have[i] === "\r") i++; else break;
    }
    return i;
  }

  // The served steps' suggestions, read back from a payload (edited or not).
  function servedHintsOf(task, served) {
    if (task.served_suggested) return task.served_suggested.slice();
    var hints = served.map(function () { return null; });
    var whole = task.segments ? wholeSteps(task.segments) : served.map(function (_, i) { return i; });
    task.steps.forEach(function (s, k) {
      if (whole[k] !== null && whole[k] !== undefined && s.suggested !== undefined) hints[whole[k]] = s.suggested;
    });
    return hints;
  }

  /*
   * page: {state, rateable(i), canMerge(i), n(), rebuild(), changed(), hint(msg), focusCursor()}. The page
   * keeps state.served (the served texts), state.servedHints and state.segments (null: as served).
   */
  function create(page) {
    var state = page.state;
    var box = null;

    function spans() { return state.segments || identity(state.served); }

    function apply(next, k, kind) {
      state.labels = remap(state.labels, k, kind);
      state.notes = remap(state.notes, k, kind);
      state.history = [];  // undo entries name steps of the old segmentation
      state.segments = isIdentity(next, state.served) ? null : next;
      state.task.segments = state.segments;
      state.task.served_steps = state.segments ? state.served : null;
      state.task.steps = stepsFor(next, state.served, state.servedHints);
      state.cursor = k;
      page.rebuild();
      page.changed(true);
    }

    function close() {
      if (box) { box.remove(); box = null; }
    }

    function openSplit() {
      var k = state.cursor;
      if (!page.rateable(k)) return false;
      close();
      var row = state.view.rows[k].row;
      box = document.createElement("li");
      box.className = "split-box";
      box.setAttribute("data-role", "split");
      var label = document.createElement("label");
      label.textContent = "Split step " + (k + 1) + ": put the caret where the first part ends, then Enter " +
        "(Esc cancels). The parts are rated on their own.";
      var input = document.createElement("textarea");
      input.readOnly = true;
      input.rows = 3;
      input.setAttribute("data-role", "split-input");
      var stepText = text(spans()[k], state.served);
      input.value = stepText;
      label.appendChild(input);
      box.appendChild(label);
      row.after(box);
      // A sensible default: after the first sentence or clause break past the first third.
      var t = input.value, from = Math.floor(t.length / 3);  // UTF-16 here: a caret in the box
      var m = /[.,;:]\s/.exec(t.slice(from));
      var caret = m ? from + m.index + 1 : Math.floor(t.length / 2);
      input.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && !ev.shiftKey) {
          ev.preventDefault();
          ev.stopPropagation();
          var next = split(spans(), state.served, k, caretIndex(stepText, input.value, input.selectionStart));
          close();
          if (!next) { page.hint("Put the caret inside the text, not at its start or end, to split it."); return; }
          apply(next, k, "split");
        } else if (ev.key === "Escape") {
          ev.preventDefault();
          ev.stopPropagation();
          close();
          page.focusCursor();
        }
      });
      input.focus();
      input.setSelectionRange(caret, caret);
      return true;
    }

    function mergeNext() {
      var k = state.cursor;
      if (!page.rateable(k)) return false;
      if (k + 1 >= page.n()) { page.hint("This is the last step: there is no next step to merge it with."); return true; }
      if (!page.canMerge(k)) { page.hint("Rate this step first: the next one is not shown yet."); return true; }
      apply(merge(spans(), k), k, "merge");
      return true;
    }

    return { openSplit: openSplit, mergeNext: mergeNext, close: close };
  }

  global.PRMSegments = { identity: identity, isIdentity: isIdentity, text: text, wholeSteps: wholeSteps,
    split: split, merge: merge, remap: remap, stepsFor: stepsFor, servedHintsOf: servedHintsOf, create: create };
})(window);
