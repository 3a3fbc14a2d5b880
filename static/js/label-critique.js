/*
 * The labeling page's critique panel: which negative step it belongs to, error types (digits
 * pick them while the picker is open) and the critique text with its preview. Its state lives
 * in the page's `state` (notes, critiqueStep, panelStep, picking), so drafts, the browser copy
 * and reloads carry it with the ratings.
 */
(function (global) {
  "use strict";

  // The payload's critiques and types: step index -> {critique, types}.
  function notesFrom(task) {
    var notes = {};
    task.steps.forEach(function (s) {
      if (s.critique || (s.error_types && s.error_types.length)) {
        notes[s.index] = { critique: s.critique || "", types: (s.error_types || []).slice() };
      }
    });
    return notes;
  }

  // page: {state, rated, lockedAfter, firstNegative, refresh, changed, updateFinish}
  function create(page) {
    var state = page.state;
    var timer = null;

    function panel() { return state.view ? state.view.critique : null; }
    function asks() { var p = panel(); return !!p && !!(p.group || p.input); }

    function negative(i) {
      var locked = page.lockedAfter();
      return i >= 0 && page.rated(i) && state.labels[i].rating === -1 && !(locked >= 0 && i > locked);
    }

    // The negative step the panel belongs to: the one under the cursor, else the one rated
    // last, else the first error; -1 when none (or the campaign asks for neither).
    function at() {
      if (!state.task || !asks()) return -1;
      if (negative(state.cursor)) return state.cursor;
      if (negative(state.critiqueStep)) return state.critiqueStep;
      return page.firstNegative();
    }

    function note(i) {
      if (!state.notes[i]) state.notes[i] = { critique: "", types: [] };
      return state.notes[i];
    }

    function renderPreview() {
      var p = panel();
      if (!p || !p.preview) return;
      var text = state.panelStep >= 0 && state.notes[state.panelStep] ? state.notes[state.panelStep].critique : "";
      p.preview.hidden = !text.trim();
      if (!p.preview.hidden) global.PRMRender.renderInto(p.preview, text);
    }

    // After the view is updated: when the panel moved to another step, show that step's text.
    function shown(i) {
      if (i === state.panelStep) return;
      state.panelStep = i;
      var p = panel();
      if (p && p.input) p.input.value = i >= 0 && state.notes[i] ? state.notes[i].critique : "";
      renderPreview();
    }

    function toggleType(k) {
      var i = at();
      var b = panel() && panel().typeButtons[k];
      if (i < 0 || !b || state.readOnly) return;
      var types = note(i).types;
      var pos = types.indexOf(b.dataset.errorType);
      if (pos >= 0) types.splice(pos, 1); else types.push(b.dataset.errorType);
      page.refresh();
      page.changed(true);
    }

    // Returns whether the picker is open now (the key was used).
    function setPicking(on) {
      state.picking = on && at() >= 0 && !!panel().group && !state.readOnly;
      page.refresh();
      return state.picking;
    }

    function focus() {
      var p = panel();
      if (!p || !p.input || at() < 0 || state.readOnly) return false;
      state.picking = false;
      page.refresh();
      p.input.focus();
      return true;
    }

    // The critique box's text changed; returns false when it belongs to no step.
    function input(value) {
      if (state.panelStep < 0) return false;
      note(state.panelStep).critique = value;
      clearTimeout(timer);
      timer = setTimeout(function () { renderPreview(); page.updateFinish(); }, 120);
      return true;
    }

    // What the campaign requires of the first error that is missing: "critique", "types" or null.
    function missing(neg) {
      var n = state.notes[neg] || { critique: "", types: [] };
      if (state.task.critique === "required" && !n.critique.trim()) return "critique";
      if (state.task.error_types === "required" && !n.types.length) return "types";
      return null;
    }

    // While the picker is open: digits pick, t / Enter / Esc close it, any other key closes it
    // and then acts as usual. Returns true when the key was used here.
    function keydown(ev) {
      if (!state.picking) return false;
      if (/^[1-9]$/.test(ev.key)) { ev.preventDefault(); toggleType(Number(ev.key) - 1); return true; }
      setPicking(false);
      if (ev.key === "t" || ev.key === "Enter" || ev.key === "Escape") { ev.preventDefault(); return true; }
      return false;
    }

    return { at: at, shown: shown, toggleType: toggleType, setPicking: setPicking, focus: focus, input: input,
      missing: missing, keydown: keydown };
  }

  global.PRMCritique = { create: create, notesFrom: notesFrom };
})(window);
