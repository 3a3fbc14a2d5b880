/*
 * The labeling page: keyboard-first step rating with autosave, resume,
 * prefetch and an active-time timer. It talks to the same API scripts use.
 */
(function () {
  "use strict";

  var app = document.getElementById("app");
  var SLUG = app.dataset.campaign;
  var API = app.dataset.api;
  var IDLE_MS = 60000;
  var $ = function (id) { return document.getElementById(id); };
  var RATING = {
    "-1": { cls: "neg", icon: "✗", text: "Negative" },
    "0": { cls: "neu", icon: "○", text: "Neutral" },
    "1": { cls: "pos", icon: "✓", text: "Positive" }
  };

  var state = {
    task: null,       // payload of the assignment on screen
    ahead: null,      // payload fetched ahead
    ratings: {},      // step index -> {rating, flagged}
    history: [],      // undo stack of {step, before}
    cursor: 0,
    correction: "",
    note: "",
    activeMs: 0,
    lastInput: Date.now(),
    submitting: false,
    confirm: null,
    sessionDone: Number(sessionStorage.getItem("prm-done") || 0),
    durations: JSON.parse(sessionStorage.getItem("prm-durations") || "[]")
  };

  // ---------------------------------------------------------------- API

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function api(method, path, body) {
    return fetch(API + path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (resp) {
      if (resp.status === 204) return null;
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var err = new Error(data.detail || ("request failed (" + resp.status + ")"));
          err.status = resp.status;
          err.code = data.error;
          throw err;
        }
        return data;
      });
    });
  }

  // ------------------------------------------------------- local backup
  // Every change is mirrored to localStorage so a crash or a failed save
  // loses nothing; the server draft is the source of truth once saved.

  function localKey(id) { return "prm-draft-" + id; }

  function saveLocal(unsynced) {
    if (!state.task) return;
    localStorage.setItem(localKey(state.task.id), JSON.stringify({
      ratings: state.ratings, correction: state.correction, note: state.note, activeMs: state.activeMs,
      unsynced: unsynced, submissionId: submissionId()
    }));
  }

  function submissionId() {
    var key = "prm-sid-" + state.task.id;
    var sid = localStorage.getItem(key);
    if (!sid) {
      sid = (crypto.randomUUID ? crypto.randomUUID() : fallbackUuid());
      localStorage.setItem(key, sid);
    }
    return sid;
  }

  function fallbackUuid() {
    return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, function (c) {
      return (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16);
    });
  }

  function forget(id) {
    localStorage.removeItem(localKey(id));
    localStorage.removeItem("prm-sid-" + id);
  }

  // ------------------------------------------------------------- timer

  function tick() {
    var now = Date.now();
    if (state.task && document.visibilityState === "visible" && now - state.lastInput < IDLE_MS) {
      state.activeMs += 1000;
      $("timer").textContent = fmt(state.activeMs);
    }
  }

  function fmt(ms) {
    var s = Math.round(ms / 1000);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function heartbeat() {
    if (!state.task || state.submitting) return;
    api("POST", "assignments/" + state.task.id + "/heartbeat/", { active_ms: state.activeMs })
      .catch(handleError);
  }

  // ------------------------------------------------------------ drafts

  var saving = false, dirty = false;

  function payloadRatings() {
    return Object.keys(state.ratings).map(Number).sort(function (a, b) { return a - b; })
      .filter(function (i) { return state.ratings[i].rating !== null; })
      .map(function (i) { return { step: i, rating: state.ratings[i].rating, flagged: state.ratings[i].flagged }; });
  }

  function saveDraft() {
    if (!state.task || state.submitting) return;
    saveLocal(true);
    if (saving) { dirty = true; return; }
    saving = true;
    dirty = false;
    var id = state.task.id;
    $("save-state").textContent = "saving…";
    api("PUT", "assignments/" + id + "/draft/", {
      ratings: payloadRatings(), active_ms: state.activeMs, corrected_step: state.correction, note: state.note
    }).then(function () {
      saving = false;
      if (state.task && state.task.id === id) {
        if (dirty) return saveDraft();
        saveLocal(false);
        $("save-state").textContent = "saved";
      }
    }).catch(function (err) {
      saving = false;
      // A late draft for a task already submitted or left behind is moot.
      if (!state.task || state.task.id !== id || state.submitting) return;
      $("save-state").textContent = "not saved";
      handleError(err);
    });
  }

  // ---------------------------------------------------------- loading

  function loadNext() {
    $("loading").hidden = false;
    return api("POST", "campaigns/" + SLUG + "/next/", {}).then(function (task) {
      $("loading").hidden = true;
      show(task);
      prefetch();
    }).catch(function (err) {
      $("loading").hidden = true;
      handleError(err);
    });
  }

  function prefetch() {
    if (!state.task || state.ahead) return;
    var current = state.task.id;
    api("POST", "campaigns/" + SLUG + "/next/", { exclude: current }).then(function (task) {
      if (state.task && state.task.id === current && task && task.id !== current) state.ahead = task;
    }).catch(function () { /* the next submit fetches instead */ });
  }

  function show(task) {
    state.task = task;
    state.history = [];
    state.confirm = null;
    hideBanner();
    $("confirm").hidden = true;
    $("bad-reason").hidden = true;
    if (!task) {
      $("task").hidden = true;
      $("empty").hidden = false;
      return;
    }
    $("empty").hidden = true;
    $("task").hidden = false;
    state.ratings = {};
    task.steps.forEach(function (s) {
      if (s.rating !== null) state.ratings[s.index] = { rating: s.rating, flagged: s.flagged };
    });
    state.correction = task.corrected_step || "";
    state.note = task.note || "";
    state.activeMs = task.active_ms || 0;
    var local = null;
    try { local = JSON.parse(localStorage.getItem(localKey(task.id)) || "null"); } catch (e) { local = null; }
    if (local && local.unsynced) {
      // The last save never reached the server: the browser copy is newer.
      state.ratings = local.ratings || {};
      state.correction = local.correction || "";
      state.note = local.note || "";
      state.activeMs = Math.max(state.activeMs, local.activeMs || 0);
    }
    PRMRender.renderInto($("problem"), task.problem);
    if (task.ground_truth_answer !== null && task.ground_truth_answer !== undefined) {
      $("gt").hidden = false;
      PRMRender.renderInto($("gt-text"), task.ground_truth_answer);
    } else {
      $("gt").hidden = true;
    }
    $("corrected-step").value = state.correction;
    $("note").value = state.note;
    $("timer").textContent = fmt(state.activeMs);
    state.cursor = firstUnrated();
    renderSteps();
    window.scrollTo(0, 0);
    if (local && local.unsynced) saveDraft();
  }

  // ----------------------------------------------------------- steps

  function n() { return state.task ? state.task.steps.length : 0; }
  function rated(i) { return state.ratings[i] && state.ratings[i].rating !== null && state.ratings[i].rating !== undefined; }
  function firstNegative() {
    for (var i = 0; i < n(); i++) if (rated(i) && state.ratings[i].rating === -1) return i;
    return -1;
  }
  function firstUnrated() {
    for (var i = 0; i < n(); i++) if (!rated(i)) return i;
    return n() - 1;
  }
  function firstError() { return state.task && state.task.mode === "first_error"; }

  function visibleCount() {
    if (!firstError()) return n();
    var neg = firstNegative();
    if (neg >= 0) return neg + 1;
    // Reveal one step at a time: everything rated, plus the next one.
    var i = 0;
    while (i < n() && rated(i)) i++;
    return Math.min(n(), i + 1);
  }

  function renderSteps() {
    var ol = $("steps");
    var visible = visibleCount();
    ol.innerHTML = "";
    for (var i = 0; i < visible; i++) ol.appendChild(stepRow(state.task.steps[i], i));
    var hidden = n() - visible;
    var neg = firstNegative();
    $("more-steps").hidden = hidden <= 0;
    $("more-steps").textContent = hidden > 0
      ? (neg >= 0 ? hidden + " later step(s) are not rated: the first error ends the rating."
        : hidden + " more step(s) appear as you rate.") : "";
    $("correction").hidden = !(neg >= 0 && app.dataset.allowCorrections === "1");
    updateFinishHint();
    focusCursor();
  }

  function stepRow(step, i) {
    var li = document.createElement("li");
    li.className = "step";
    li.dataset.index = i;
    li.tabIndex = -1;
    var r = state.ratings[i];
    if (rated(i)) li.classList.add("rated-" + RATING[String(r.rating)].cls);
    if (i === state.cursor) li.classList.add("current");
    var head = document.createElement("div");
    head.className = "step-head";
    var num = document.createElement("span");
    num.className = "step-num";
    num.textContent = "Step " + (i + 1);
    var status = document.createElement("span");
    status.className = "step-status";
    status.textContent = rated(i) ? RATING[String(r.rating)].icon + " " + RATING[String(r.rating)].text : "not rated";
    head.appendChild(num);
    head.appendChild(status);
    if (r && r.flagged) {
      var fl = document.createElement("span");
      fl.className = "flag-mark";
      fl.textContent = "⚑ flagged";
      head.appendChild(fl);
    }
    var body = document.createElement("div");
    body.className = "step-text md";
    PRMRender.renderInto(body, step.text);
    var controls = document.createElement("div");
    controls.className = "controls";
    controls.setAttribute("role", "group");
    controls.setAttribute("aria-label", "rate step " + (i + 1));
    [["-1", "1"], ["0", "2"], ["1", "3"]].forEach(function (pair) {
      var val = pair[0], meta = RATING[val];
      var b = document.createElement("button");
      b.type = "button";
      b.className = "rate " + meta.cls;
      b.dataset.rating = val;
      b.setAttribute("aria-pressed", rated(i) && String(r.rating) === val ? "true" : "false");
      b.innerHTML = '<span aria-hidden="true">' + meta.icon + "</span> " + meta.text + " <kbd>" + pair[1] + "</kbd>";
      b.addEventListener("click", function () { state.cursor = i; rate(Number(val)); });
      controls.appendChild(b);
    });
    var flag = document.createElement("button");
    flag.type = "button";
    flag.className = "flag";
    flag.setAttribute("aria-pressed", r && r.flagged ? "true" : "false");
    flag.innerHTML = '<span aria-hidden="true">⚑</span> Unsure <kbd>f</kbd>';
    flag.addEventListener("click", function () { state.cursor = i; toggleFlag(); });
    controls.appendChild(flag);
    li.appendChild(head);
    li.appendChild(body);
    li.appendChild(controls);
    li.addEventListener("click", function (ev) {
      if (ev.target.closest("button")) return;
      state.cursor = i;
      renderSteps();
    });
    return li;
  }

  function focusCursor() {
    var li = $("steps").querySelector('li[data-index="' + state.cursor + '"]');
    if (!li) return;
    if (document.activeElement && /TEXTAREA|INPUT/.test(document.activeElement.tagName)) return;
    li.focus({ preventScroll: true });
    var rect = li.getBoundingClientRect();
    if (rect.top < 80 || rect.bottom > window.innerHeight - 40) li.scrollIntoView({ block: "center" });
  }

  function record(step) {
    state.history.push({ step: step, before: state.ratings[step] ? Object.assign({}, state.ratings[step]) : null });
  }

  function rate(value) {
    if (!state.task) return;
    var i = state.cursor;
    if (i >= visibleCount()) return;
    var neg = firstNegative();
    if (firstError() && neg >= 0 && i > neg) return;
    record(i);
    var flagged = state.ratings[i] ? state.ratings[i].flagged : false;
    state.ratings[i] = { rating: value, flagged: flagged };
    if (firstError() && value === -1) {
      // Ratings after the first error are not collected in this mode.
      for (var j = i + 1; j < n(); j++) delete state.ratings[j];
    } else if (i < n() - 1) {
      state.cursor = i + 1;
    }
    renderSteps();
    saveDraft();
  }

  function toggleFlag() {
    var i = state.cursor;
    if (!state.task || i >= visibleCount()) return;
    record(i);
    var cur = state.ratings[i] || { rating: null, flagged: false };
    state.ratings[i] = { rating: cur.rating, flagged: !cur.flagged };
    if (state.ratings[i].rating === null && !state.ratings[i].flagged) delete state.ratings[i];
    renderSteps();
    saveDraft();
  }

  function undo() {
    var last = state.history.pop();
    if (!last) { banner("Nothing to undo."); return; }
    if (last.before) state.ratings[last.step] = last.before; else delete state.ratings[last.step];
    state.cursor = last.step;
    renderSteps();
    saveDraft();
  }

  function move(delta) {
    state.cursor = Math.max(0, Math.min(visibleCount() - 1, state.cursor + delta));
    renderSteps();
  }

  // ---------------------------------------------------------- finishing

  function completeness() {
    var neg = firstNegative();
    if (firstError()) {
      if (neg >= 0) return { ok: true, reason: "found_error" };
      for (var i = 0; i < n(); i++) if (!rated(i)) return { ok: false, missing: i };
      return { ok: true, reason: "solution" };
    }
    for (var k = 0; k < n(); k++) if (!rated(k)) return { ok: false, missing: k };
    return { ok: true, reason: neg >= 0 ? "found_error" : "solution" };
  }

  function updateFinishHint() {
    var c = completeness();
    $("finish-hint").textContent = c.ok
      ? (c.reason === "found_error" ? "Submits as: found an error (step " + (firstNegative() + 1) + ")"
        : "Submits as: rated to the end, no error")
      : "Rate step " + (c.missing + 1) + " to submit";
  }

  function submit(reason) {
    if (!state.task || state.submitting) return;
    var c = completeness();
    if (!reason) {
      if (!c.ok) {
        state.cursor = c.missing;
        renderSteps();
        banner("Rate step " + (c.missing + 1) + " before submitting (or give up / report a bad problem).");
        return;
      }
      reason = c.reason;
    }
    if (reason === "bad_problem" && !state.note.trim()) {
      openBadProblem();
      banner("Say what is wrong with the problem first.");
      return;
    }
    state.submitting = true;
    clearTimeout(soon);
    var task = state.task;
    var ratings = payloadRatings();
    if (firstError()) {
      var neg = firstNegative();
      if (neg >= 0) ratings = ratings.filter(function (r) { return r.step <= neg; });
    }
    var body = {
      submission_id: submissionId(), ratings: ratings, finish_reason: reason, note: state.note,
      corrected_step: firstNegative() >= 0 ? state.correction : "", active_ms: state.activeMs
    };
    saveLocal(true);
    api("POST", "assignments/" + task.id + "/submit/", body).then(function () {
      state.submitting = false;
      forget(task.id);
      state.sessionDone += 1;
      state.durations.push(state.activeMs);
      sessionStorage.setItem("prm-done", String(state.sessionDone));
      sessionStorage.setItem("prm-durations", JSON.stringify(state.durations.slice(-200)));
      updateStrip();
      advance();
    }).catch(function (err) {
      state.submitting = false;
      handleError(err);
    });
  }

  function advance() {
    var next = state.ahead;
    state.ahead = null;
    if (next) { show(next); prefetch(); } else { loadNext(); }
  }

  function skip() {
    if (!state.task) return;
    var task = state.task;
    api("POST", "assignments/" + task.id + "/skip/", { note: "" }).then(function () {
      forget(task.id);
      advance();
    }).catch(handleError);
  }

  function updateStrip() {
    $("done-count").textContent = String(state.sessionDone);
    var d = state.durations.slice().sort(function (a, b) { return a - b; });
    if (d.length) {
      var m = d.length % 2 ? d[(d.length - 1) / 2] : (d[d.length / 2 - 1] + d[d.length / 2]) / 2;
      $("median").textContent = fmt(m);
    }
  }

  // ---------------------------------------------------- confirm, banner

  function ask(text, onYes) {
    state.confirm = onYes;
    $("confirm-text").textContent = text;
    $("confirm").hidden = false;
    $("confirm-yes").focus();
  }

  function closeConfirm() {
    state.confirm = null;
    $("confirm").hidden = true;
    focusCursor();
  }

  function openBadProblem() {
    $("bad-reason").hidden = false;
    $("note").focus();
  }

  function banner(text, actionText, action) {
    $("banner").hidden = false;
    $("banner-text").textContent = text;
    var btn = $("banner-action");
    btn.hidden = !actionText;
    btn.textContent = actionText || "";
    btn.onclick = action || null;
  }

  function hideBanner() { $("banner").hidden = true; }

  function handleError(err) {
    if (err.code === "lease_expired") {
      saveLocal(true);
      banner(err.message, "Resume", function () {
        var keep = state.task;
        hideBanner();
        // next() hands an expired lease back (drafts intact) while the task is open.
        api("POST", "campaigns/" + SLUG + "/next/", {}).then(function (task) {
          if (task && keep && task.id === keep.id) { show(task); } else {
            banner("That task went to someone else; your ratings for it are kept in this browser. Here is a new one.");
            show(task);
          }
        }).catch(handleError);
      });
      return;
    }
    if (err.status === 403) { banner(err.message + " (your work so far is kept)"); return; }
    banner(err.message + " — your ratings are kept in this browser; try again.");
  }

  // ----------------------------------------------------------- keyboard

  function inText(ev) { return /TEXTAREA|INPUT|SELECT/.test(ev.target.tagName); }

  document.addEventListener("keydown", function (ev) {
    state.lastInput = Date.now();
    var dialogOpen = $("help").open || $("instructions").open;
    if (dialogOpen) return;  // <dialog> handles Esc itself
    if (inText(ev)) {
      if (ev.key === "Escape") { ev.target.blur(); focusCursor(); ev.preventDefault(); }
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && ev.target.id === "note") {
        ev.preventDefault();
        submit("bad_problem");
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (state.confirm) {
      if (ev.key === "Enter") { ev.preventDefault(); var fn = state.confirm; closeConfirm(); fn(); }
      else if (ev.key === "Escape") { ev.preventDefault(); closeConfirm(); }
      return;
    }
    var handled = true;
    switch (ev.key) {
      case "1": case "-": rate(-1); break;
      case "2": case "0": rate(0); break;
      case "3": case "+": case "=": rate(1); break;
      case "j": case "ArrowDown": move(1); break;
      case "k": case "ArrowUp": move(-1); break;
      case "f": toggleFlag(); break;
      case "u": undo(); break;
      case "Enter": submit(); break;
      case "g": ask("Give up on this solution? Your ratings so far are kept.", function () { submit("give_up"); }); break;
      case "b": openBadProblem(); break;
      case "s": ask("Skip this task? It goes to someone else.", skip); break;
      case "c":
        if (!$("correction").hidden) $("corrected-step").focus(); else handled = false;
        break;
      case "?": $("help").showModal(); break;
      case "i": $("instructions").showModal(); break;
      case "Escape": hideBanner(); $("bad-reason").hidden = true; break;
      default: handled = false;
    }
    if (handled) ev.preventDefault();
  });

  ["mousemove", "mousedown", "wheel", "touchstart"].forEach(function (t) {
    document.addEventListener(t, function () { state.lastInput = Date.now(); }, { passive: true });
  });

  // ----------------------------------------------------------- buttons

  $("btn-submit").addEventListener("click", function () { submit(); });
  $("btn-giveup").addEventListener("click", function () {
    ask("Give up on this solution? Your ratings so far are kept.", function () { submit("give_up"); });
  });
  $("btn-bad").addEventListener("click", openBadProblem);
  $("btn-bad-confirm").addEventListener("click", function () { submit("bad_problem"); });
  $("btn-skip").addEventListener("click", function () { ask("Skip this task? It goes to someone else.", skip); });
  $("btn-undo").addEventListener("click", undo);
  $("confirm-yes").addEventListener("click", function () { var fn = state.confirm; closeConfirm(); if (fn) fn(); });
  $("confirm-no").addEventListener("click", closeConfirm);
  $("btn-help").addEventListener("click", function () { $("help").showModal(); });
  $("btn-instructions").addEventListener("click", function () { $("instructions").showModal(); });
  $("corrected-step").addEventListener("input", function (ev) { state.correction = ev.target.value; saveDraftSoon(); });
  $("note").addEventListener("input", function (ev) { state.note = ev.target.value; saveDraftSoon(); });

  var soon = null;
  function saveDraftSoon() {
    saveLocal(true);
    clearTimeout(soon);
    soon = setTimeout(saveDraft, 600);
  }

  // -------------------------------------------------------------- start

  var instructions = JSON.parse($("instructions-src").textContent || '""');
  PRMRender.renderInto($("instructions-body"), instructions || "_No instructions for this campaign._");
  updateStrip();
  setInterval(tick, 1000);
  setInterval(heartbeat, 30000);  // well inside the shortest (1 minute) lease
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden" && state.task) saveLocal(!!dirty);
  });
  loadNext();
  window.PRMLabeler = { state: state };
})();
