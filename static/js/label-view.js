/*
 * The labeling page's task view: builds the DOM of one task once (problem,
 * answer, one compact row per step, correction box) and reflects labeling
 * state on it by attributes only. Math is rendered once per task, so a key
 * press costs a few attribute writes, not a re-render; the page builds the
 * task fetched ahead before it is needed.
 */
(function (global) {
  "use strict";

  var RATINGS = [
    { value: -1, cls: "neg", icon: "✗", name: "Negative", keys: "1 or −" },
    { value: 0, cls: "neu", icon: "○", name: "Neutral", keys: "2 or 0" },
    { value: 1, cls: "pos", icon: "✓", name: "Positive", keys: "3 or +" }
  ];
  var STATE = { "-1": "neg", "0": "neu", "1": "pos" };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "class") node.className = attrs[k]; else node.setAttribute(k, attrs[k]);
      });
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function stepRow(step, i) {
    var n = i + 1;
    var li = el("li", { class: "step", "data-step-index": String(i), "data-state": "unrated", tabindex: "-1" });
    if (step.suggested === -1 || step.suggested === 0 || step.suggested === 1) {
      li.setAttribute("data-suggested", String(step.suggested));
    }
    var group = el("span", { class: "rate", role: "group", "aria-label": "Rate step " + n });
    var buttons = RATINGS.map(function (r) {
      var b = el("button", {
        type: "button", class: "rate-btn " + r.cls, "data-rating": String(r.value), "aria-pressed": "false",
        "aria-label": r.name + ", step " + n, title: r.name + " (" + r.keys + ")"
      });
      b.appendChild(el("span", { "aria-hidden": "true" }, r.icon));
      if (step.suggested === r.value) {
        // A hint only: the ring marks it, and the step stays unrated until a key press.
        b.setAttribute("data-suggested", "true");
        b.setAttribute("aria-label", r.name + ", step " + n + " (suggested)");
        b.title = r.name + " (" + r.keys + "), suggested: press a to accept";
      }
      group.appendChild(b);
      return b;
    });
    var num = el("span", { class: "num", "aria-hidden": "true" }, String(n));
    var text = el("div", { class: "step-text md" });
    global.PRMRender.renderInto(text, step.text);
    var flag = el("button", {
      type: "button", class: "flag", "data-action": "flag", "aria-pressed": "false",
      "aria-label": "Unsure, flag step " + n, title: "Flag as unsure (f)"
    });
    flag.appendChild(el("span", { "aria-hidden": "true" }, "⚑"));
    li.appendChild(group);
    li.appendChild(num);
    li.appendChild(text);
    li.appendChild(flag);
    return { row: li, buttons: buttons, flag: flag };
  }

  function correctionBox() {
    var li = el("li", { class: "correction", "data-role": "correction", "aria-label": "corrected step" });
    li.hidden = true;
    var label = el("label", { class: "correction-label" });
    label.appendChild(document.createTextNode("Corrected step (optional) "));
    var hint = el("span", { class: "muted" });
    hint.innerHTML = "<kbd>c</kbd> to write, <kbd>Esc</kbd> to leave; the preview renders as the annotators see it";
    label.appendChild(hint);
    var area = el("textarea", {
      rows: "2", "data-role": "correction-input", placeholder: "Write the step as it should have been",
      "aria-label": "Corrected step"
    });
    var preview = el("div", { class: "md correction-preview", "data-role": "correction-preview", "aria-live": "polite" });
    preview.hidden = true;
    li.appendChild(label);
    li.appendChild(area);
    li.appendChild(preview);
    return { box: li, input: area, preview: preview };
  }

  // What is wrong with a negative step: its error types (digits pick them while the picker is
  // open) and a written critique with a live preview. Built only for what the campaign asks.
  function critiquePanel(task) {
    var li = el("li", { class: "critique", "data-role": "critique", "aria-label": "what is wrong with this step" });
    li.hidden = true;
    var out = { box: li, group: null, typeButtons: [], input: null, preview: null };
    var taxonomy = task.error_types !== "off" ? (task.error_taxonomy || []) : [];
    if (taxonomy.length) {
      var group = el("div", { class: "error-types", role: "group", "data-role": "error-types",
        "aria-label": "Error types" + (task.error_types === "required" ? " (required)" : "") });
      var head = el("span", { class: "muted etype-head" });
      head.innerHTML = "Error type" + (task.error_types === "required" ? " <b>(required)</b>" : "") +
        ": <kbd>t</kbd> then digits";
      group.appendChild(head);
      taxonomy.forEach(function (t, k) {
        var b = el("button", { type: "button", class: "etype", "data-error-type": t.key, "aria-pressed": "false",
          title: (t.description ? t.description + " " : "") + "(t, then " + (k + 1) + ")" });
        b.appendChild(el("kbd", { "aria-hidden": "true" }, String(k + 1)));
        b.appendChild(document.createTextNode(" " + t.label));
        group.appendChild(b);
        out.typeButtons.push(b);
      });
      li.appendChild(group);
      out.group = group;
    }
    if (task.critique !== "off") {
      var label = el("label", { class: "critique-label" });
      label.appendChild(document.createTextNode(
        "Critique" + (task.critique === "required" ? " (required) " : " (optional) ")));
      var hint = el("span", { class: "muted" });
      hint.innerHTML = "<kbd>e</kbd> to write what is wrong, <kbd>Esc</kbd> to leave";
      label.appendChild(hint);
      out.input = el("textarea", {
        rows: "2", "data-role": "critique-input", "aria-label": "Critique: what is wrong with this step",
        placeholder: "What is wrong with this step, and why? Markdown and $math$"
      });
      out.preview = el("div", { class: "md critique-preview", "data-role": "critique-preview", "aria-live": "polite" });
      out.preview.hidden = true;
      label.appendChild(out.input);
      li.appendChild(label);
      li.appendChild(out.preview);
    }
    return out;
  }

  // Build the DOM of one task. Pure: it reads the payload and nothing else.
  function build(task) {
    var root = el("div", { class: "task-view", "data-task-id": String(task.id) });
    var problem = el("article", { class: "problem", "aria-label": "problem" });
    var ptext = el("div", { class: "md problem-text", "data-role": "problem" });
    global.PRMRender.renderInto(ptext, task.problem);
    problem.appendChild(ptext);
    if (task.ground_truth_answer !== null && task.ground_truth_answer !== undefined) {
      var gt = el("div", { class: "gt", "data-role": "answer" });
      global.PRMRender.renderAnswerInto(gt, task.ground_truth_answer);
      problem.appendChild(gt);
    }
    if (task.suggestions) {
      problem.appendChild(el("p", { class: "suggestions-note muted", "data-role": "suggestions-note" },
        "Suggested ratings have a dashed ring. They are hints: confirm each step with its key (or a to accept " +
        "the suggestion) or rate it otherwise; no step counts until you do."));
    }
    var ol = el("ol", { class: "steps", "data-role": "steps", "aria-label": "solution steps" });
    var rows = task.steps.map(function (s, i) {
      var r = stepRow(s, i);
      ol.appendChild(r.row);
      return r;
    });
    var correction = correctionBox();
    var critique = critiquePanel(task);
    ol.appendChild(critique.box);
    ol.appendChild(correction.box);
    var more = el("p", { class: "more-steps muted", "data-role": "more-steps" });
    more.hidden = true;
    root.appendChild(problem);
    root.appendChild(ol);
    root.appendChild(more);
    return { task: task, root: root, list: ol, rows: rows, correction: correction, critique: critique, more: more,
      placedAfter: -1, critiqueAfter: -1 };
  }

  function setAttr(node, name, value) {
    if (value === null) { if (node.hasAttribute(name)) node.removeAttribute(name); }
    else if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  }

  /*
   * Reflect state on a built view. `s`: labels (index -> {rating, flagged}),
   * cursor, visible (rows shown), lockedAfter (rows after it are dimmed and
   * not rateable, -1 for none), readOnly, correctionAt (row the correction
   * box follows, -1 hides it), critiqueAt (row the critique panel follows,
   * -1 hides it), notes (index -> {critique, types}), picking (the type
   * picker takes digits).
   */
  function update(view, s) {
    view.rows.forEach(function (r, i) {
      var lab = s.labels[i];
      var rated = lab && lab.rating !== null && lab.rating !== undefined;
      var locked = s.lockedAfter >= 0 && i > s.lockedAfter;
      setAttr(r.row, "data-state", rated ? STATE[String(lab.rating)] : "unrated");
      r.row.hidden = i >= s.visible;
      setAttr(r.row, "data-locked", locked ? "true" : null);
      setAttr(r.row, "aria-disabled", locked || s.readOnly ? "true" : null);
      setAttr(r.row, "aria-current", i === s.cursor ? "step" : null);
      r.row.classList.toggle("current", i === s.cursor);
      r.buttons.forEach(function (b, k) {
        setAttr(b, "aria-pressed", rated && lab.rating === RATINGS[k].value ? "true" : "false");
        b.disabled = locked || s.readOnly;
      });
      setAttr(r.flag, "aria-pressed", lab && lab.flagged ? "true" : "false");
      r.flag.disabled = locked || s.readOnly;
      var note = s.notes && s.notes[i];
      var noted = rated && lab.rating === -1 && note && (note.critique || note.types.length);
      setAttr(r.row, "data-critiqued", noted ? "true" : null);
    });
    var crit = view.critique;
    var hasPanel = !!(crit.group || crit.input);
    var critAt = hasPanel ? s.critiqueAt : -1;
    // Below its row: the critique panel, then the correction box.
    if (s.correctionAt >= 0 && view.placedAfter !== s.correctionAt) {
      view.rows[s.correctionAt].row.after(view.correction.box);
      view.placedAfter = s.correctionAt;
      view.critiqueAfter = -1;
    }
    if (critAt >= 0 && view.critiqueAfter !== critAt) {
      view.rows[critAt].row.after(crit.box);
      view.critiqueAfter = critAt;
    }
    view.correction.box.hidden = s.correctionAt < 0;
    view.correction.input.disabled = s.readOnly;
    crit.box.hidden = critAt < 0;
    if (critAt >= 0) {
      var types = (s.notes[critAt] && s.notes[critAt].types) || [];
      crit.typeButtons.forEach(function (b) {
        setAttr(b, "aria-pressed", types.indexOf(b.dataset.errorType) >= 0 ? "true" : "false");
        b.disabled = s.readOnly;
      });
      if (crit.group) setAttr(crit.group, "data-picking", s.picking ? "true" : null);
      if (crit.input) crit.input.disabled = s.readOnly;
      setAttr(crit.box, "data-step", String(critAt));
    }
  }

  function row(view, i) { return view.rows[i] ? view.rows[i].row : null; }

  global.PRMView = { build: build, update: update, row: row, RATINGS: RATINGS };
})(window);
