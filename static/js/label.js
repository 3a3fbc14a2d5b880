/*
 * The labeling page: keyboard-first step rating, one compact row per step.
 *
 * What it guarantees the annotator:
 * - every change is mirrored to localStorage at once and saved to the server
 *   draft (ratings, flags, undo stack, cursor), so a reload, a crash or a
 *   dropped connection loses nothing; offline changes are retried;
 * - the task on screen is never one already submitted or skipped: the task
 *   fetched ahead is checked against both before it is shown, and a task
 *   closed elsewhere (another tab) moves the page on with a short notice;
 * - after a lapsed lease, Resume gets the same task back or says plainly it
 *   went to someone else, keeping the ratings on screen read-only;
 * - it holds at most the task on screen and one fetched ahead (short lease,
 *   given back with sendBeacon when the page closes).
 */
(function () {
  "use strict";

  var app = document.getElementById("app");
  var SLUG = app.dataset.campaign;
  var api = PRMApi.client(app.dataset.api);
  var View = PRMView;
  var IDLE_MS = 60000;
  var HEARTBEAT_MS = 30000;  // well inside the shortest lease (the 2-minute one ahead)
  var MAX_HISTORY = 200;
  var $ = function (id) { return document.getElementById(id); };

  var state = {
    task: null, view: null,      // on screen
    ahead: null, aheadView: null, // fetched ahead, built off screen
    labels: {},                  // step index -> {rating: -1|0|1|null, flagged}
    notes: {},                   // step index -> {critique, types}: what is wrong with a negative step
    critiqueStep: -1,            // the negative step rated last: the critique panel follows it
    panelStep: -1,               // the step the critique panel shows now
    picking: false,              // the error-type picker takes the digit keys
    history: [],                 // undo stack: each entry lists the step states one change replaced
    cursor: 0,
    correction: "", note: "",
    activeMs: 0, lastInput: Date.now(),
    opened: false,               // the server knows the task on screen is shown
    resuming: false,             // a Resume is in flight: no rating or submit until it answers
    readOnly: false,
    submitting: false, pendingSubmit: null,
    prefetching: false, loadGen: 0,
    closed: {},                  // ids submitted, skipped or dismissed on this page
    confirm: null,
    sessionDone: Number(sessionStorage.getItem("prm-done") || 0),
    durations: JSON.parse(sessionStorage.getItem("prm-durations") || "[]")
  };
  var sync = { inFlight: false, again: false, pending: 0, offline: false, retry: null, backoff: 1000, soon: null };

  // ------------------------------------------------------------ helpers

  function n() { return state.task ? state.task.steps.length : 0; }
  function firstError() { return !!state.task && state.task.mode === "first_error"; }
  function progressive() { return firstError() && state.task.reveal === "progressive"; }
  function rated(i) { var l = state.labels[i]; return !!l && l.rating !== null && l.rating !== undefined; }
  function firstNegative() {
    for (var i = 0; i < n(); i++) if (rated(i) && state.labels[i].rating === -1) return i;
    return -1;
  }
  function firstUnrated() {
    for (var i = 0; i < n(); i++) if (!rated(i)) return i;
    return Math.max(0, n() - 1);
  }
  // Rows on screen: all of them, or in progressive first-error mode the rated
  // prefix plus the next step, and never past the first negative.
  function visibleCount() {
    if (!progressive()) return n();
    var neg = firstNegative();
    if (neg >= 0) return neg + 1;
    var i = 0;
    while (i < n() && rated(i)) i++;
    return Math.min(n(), i + 1);
  }
  // In first-error mode nothing after the first negative is rated.
  function lockedAfter() { return firstError() ? firstNegative() : -1; }
  function lastReachable() {
    var locked = lockedAfter();
    var last = visibleCount() - 1;
    return locked >= 0 ? Math.min(last, locked) : last;
  }
  function rateable(i) {
    return !!state.task && !state.readOnly && !state.submitting && !state.resuming && i <= lastReachable();
  }

  // ------------------------------------------------------ local mirror

  function localKey(id) { return "prm-draft-" + id; }

  function saveLocal(unsynced) {
    if (!state.task) return;
    try {
      localStorage.setItem(localKey(state.task.id), JSON.stringify({
        labels: state.labels, notes: state.notes, history: state.history, cursor: state.cursor, correction: state.correction,
        segments: state.segments,
        note: state.note, activeMs: state.activeMs, unsynced: unsynced, pending: sync.pending
      }));
    } catch (e) { /* storage full or disabled: the server draft still has it */ }
  }

  function readLocal(id) {
    try { return JSON.parse(localStorage.getItem(localKey(id)) || "null"); } catch (e) { return null; }
  }

  // Per tab (sessionStorage survives a reload of the tab, not another tab): a
  // retry of this tab's submit is a replay, while a second tab's submit of the
  // same task is told the task was already submitted instead of "succeeding".
  function submissionId(id) {
    var key = "prm-sid-" + id;
    var sid = sessionStorage.getItem(key);
    if (!sid) {
      sid = crypto.randomUUID ? crypto.randomUUID() : fallbackUuid();
      sessionStorage.setItem(key, sid);
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
    sessionStorage.removeItem("prm-sid-" + id);
  }

  // -------------------------------------------------------- sync state

  function setSyncState(kind, text) {
    var s = $("save-state");
    s.dataset.state = kind;
    s.textContent = text;
  }

  function showSync() {
    if (sync.offline) {
      var what = state.pendingSubmit ? "offline: the submit is waiting for the connection"
        : "offline: " + sync.pending + " change" + (sync.pending === 1 ? "" : "s") + " not saved";
      setSyncState("offline", what);
    } else if (sync.inFlight) setSyncState("saving", "saving…");
    else if (sync.pending > 0) setSyncState("pending", sync.pending + " unsaved");
    else if (state.task) setSyncState("saved", "saved");
    else setSyncState("idle", "");
  }

  // A change to the labeling. `counts`: a rating, flag, undo or text edit
  // (counted as unsaved); a cursor move only rides along, a little later.
  function changed(counts) {
    if (!state.task || state.readOnly) return;
    if (counts) sync.pending += 1;
    saveLocal(true);
    clearTimeout(sync.soon);
    sync.soon = setTimeout(flush, counts ? 0 : 800);
    showSync();
  }

  function draftBody() {
    var ratings = [], flags = [];
    Object.keys(state.labels).map(Number).sort(function (a, b) { return a - b; }).forEach(function (i) {
      var l = state.labels[i];
      if (l.rating !== null && l.rating !== undefined) {
        var r = { step: i, rating: l.rating, flagged: !!l.flagged };
        var note = state.notes[i];
        if (note && note.critique) r.critique = note.critique;
        if (note && note.types.length) r.error_types = note.types.slice();
        ratings.push(r);
      } else if (l.flagged) flags.push(i);
    });
    return {
      ratings: ratings, active_ms: state.activeMs, corrected_step: state.correction, note: state.note,
      segments: state.segments,
      ui: { cursor: state.cursor, flags: flags, history: state.history.slice(-MAX_HISTORY) }
    };
  }

  function flush() {
    if (!state.task || state.readOnly || state.submitting) return;
    if (sync.inFlight) { sync.again = true; return; }
    var id = state.task.id, sent = sync.pending;
    sync.inFlight = true;
    sync.again = false;
    showSync();
    api.put("assignments/" + id + "/draft/", draftBody()).then(function () {
      sync.inFlight = false;
      if (!state.task || state.task.id !== id) return;
      sync.pending = Math.max(0, sync.pending - sent);
      backOnline();
      if (sync.again || sync.pending > 0) { flush(); return; }
      saveLocal(false);
      showSync();
    }, function (err) {
      sync.inFlight = false;
      if (!state.task || state.task.id !== id || state.submitting) return;
      if (err.network) { goOffline(); return; }
      showSync();
      taskError(err);
    });
  }

  function goOffline() {
    sync.offline = true;
    showSync();
    clearTimeout(sync.retry);
    sync.retry = setTimeout(retryNow, sync.backoff);
    sync.backoff = Math.min(sync.backoff * 2, 30000);
  }

  function backOnline() {
    if (!sync.offline) return;
    sync.offline = false;
    sync.backoff = 1000;
    clearTimeout(sync.retry);
    showSync();
    // One request got through: send at once whatever else waited for the connection.
    if (state.pendingSubmit || (state.task && !state.opened && !state.readOnly)) retryNow();
  }

  // Try again whatever waited for the connection: a submit, the show, the draft, a load.
  function retryNow() {
    clearTimeout(sync.retry);
    if (state.pendingSubmit) { sendSubmit(); return; }
    if (!state.task) { loadNext(); return; }
    if (!state.opened && !state.readOnly) { openOnServer(state.task.id); return; }
    if (sync.pending > 0 || sync.again) { flush(); return; }
    // Nothing to send: probe with a heartbeat so the indicator clears.
    var id = state.task.id;
    api.post("assignments/" + id + "/heartbeat/", { active_ms: state.activeMs }).then(backOnline, forTask(id, function (err) {
      backOnline();
      taskError(err);
    }));
  }

  window.addEventListener("online", function () { sync.backoff = 1000; retryNow(); });

  // ------------------------------------------------------------ timer

  function tick() {
    var now = Date.now();
    if (state.task && !state.readOnly && document.visibilityState === "visible" && now - state.lastInput < IDLE_MS) {
      state.activeMs += 1000;
      $("timer").textContent = fmt(state.activeMs);
    }
  }

  function fmt(ms) {
    var s = Math.round(ms / 1000);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // An error answer counts only for the task it was about: a late one for a task
  // the page has moved past says nothing about the task now on screen.
  function forTask(id, handle) {
    return function (err) {
      if (!state.task || state.task.id !== id) return;
      if (err.network) goOffline(); else handle(err);
    };
  }

  function heartbeat() {
    if (state.task && !state.submitting && !state.readOnly && !sync.offline && !state.resuming) {
      var id = state.task.id;
      if (!state.opened) openOnServer(id);
      else api.post("assignments/" + id + "/heartbeat/", { active_ms: state.activeMs }).catch(forTask(id, taskError));
    }
    var ahead = state.ahead;
    if (ahead) {
      api.post("assignments/" + ahead.id + "/heartbeat/", { active_ms: 0 }).catch(function (err) {
        // The task ahead lapsed or was closed elsewhere: fetch another when needed.
        if (!err.network && state.ahead === ahead) { state.ahead = null; state.aheadView = null; }
      });
    }
  }

  // ----------------------------------------------------------- loading

  function showLoading(on) { $("loading").hidden = !on; }

  function loadNext() {
    var gen = ++state.loadGen;
    showLoading(true);
    api.post("campaigns/" + SLUG + "/next/", {}).then(function (task) {
      if (gen !== state.loadGen) return;
      showLoading(false);
      backOnline();
      state.opened = true;
      showTask(task, null);
      prefetch();
    }, function (err) {
      if (gen !== state.loadGen) return;
      showLoading(false);
      state.task = null;
      state.view = null;
      $("task").hidden = true;
      $("finishbar").hidden = true;
      if (err.network) { goOffline(); return; }
      banner("The next task could not be loaded: " + err.message, "Retry", function () { hideBanner(); loadNext(); },
        "load");
    });
  }

  function prefetch() {
    if (!state.task || state.ahead || state.prefetching || state.readOnly) return;
    var current = state.task.id;
    state.prefetching = true;
    api.post("campaigns/" + SLUG + "/next/", { exclude: current, prefetch: true }).then(function (task) {
      state.prefetching = false;
      if (!task) return;  // nothing left after the task on screen
      var late = !state.task || state.task.id !== current;
      // An answer to a request made for the task still on screen is the server's word: a task the
      // page had given up on (dismissed after it went to someone else) may have come free again.
      if (!late && state.closed[task.id]) delete state.closed[task.id];
      if (late || task.id === state.task.id || state.closed[task.id] || state.ahead) {
        // A late answer: the page moved on while it was in flight. Ask again for the task now on screen.
        if (late && state.task) prefetch();
        return;
      }
      state.ahead = task;
      state.aheadView = null;
      setTimeout(function () {
        if (state.ahead === task && !state.aheadView) state.aheadView = View.build(task);
      }, 0);
    }, function () { state.prefetching = false; /* the next advance loads instead */ });
  }

  // Tell the server the task on screen is shown (full lease); then fetch the next one ahead.
  function openOnServer(id) {
    state.opened = false;
    api.post("assignments/" + id + "/open/").then(function () {
      if (!state.task || state.task.id !== id) return;
      state.opened = true;
      backOnline();
      prefetch();
    }, function (err) {
      if (!state.task || state.task.id !== id) return;
      if (err.network) { goOffline(); return; }
      if (err.code === "task_taken") {
        state.closed[id] = true;
        forget(id);
        notice("That task went to someone else before it was shown. Here is another one.");
        state.task = null;
        loadNext();
        return;
      }
      taskError(err);
    });
  }

  function advance() {
    var next = state.ahead, view = state.aheadView;
    state.ahead = null;
    state.aheadView = null;
    if (next && !state.closed[next.id] && !(state.task && next.id === state.task.id)) {
      showTask(next, view);
      openOnServer(next.id);
    } else {
      state.task = null;
      state.view = null;
      $("task").hidden = true;
      $("finishbar").hidden = true;
      loadNext();
    }
  }

  function labelsFrom(task) {
    var labels = {};
    task.steps.forEach(function (s) {
      if (s.rating !== null || s.flagged) labels[s.index] = { rating: s.rating, flagged: !!s.flagged };
    });
    ((task.ui && task.ui.flags) || []).forEach(function (i) {
      if (!labels[i]) labels[i] = { rating: null, flagged: true };
    });
    return labels;
  }

  function showTask(task, view) {
    state.task = task;
    state.readOnly = false;
    state.confirm = null;
    state.submitting = false;
    state.pendingSubmit = null;
    sync.pending = 0;
    sync.again = false;
    app.removeAttribute("data-readonly");
    hideBanner();
    $("confirm").hidden = true;
    $("bad-reason").hidden = true;
    if (!task) {
      state.view = null;
      $("task").hidden = true;
      $("finishbar").hidden = true;
      $("empty").hidden = false;
      showSync();
      return;
    }
    $("empty").hidden = true;
    segments.close();
    state.served = task.served_steps || task.steps.map(function (s) { return s.text; });
    state.servedHints = PRMSegments.servedHintsOf(task, state.served);
    state.segments = task.segments || null;
    var ui = task.ui || { cursor: 0, flags: [], history: [] };
    state.labels = labelsFrom(task);
    state.notes = PRMCritique.notesFrom(task);
    state.picking = false;
    state.panelStep = -1;
    state.history = ui.history || [];
    state.correction = task.corrected_step || "";
    state.note = task.note || "";
    state.activeMs = task.active_ms || 0;
    var hasUi = state.history.length > 0 || ui.cursor > 0;
    state.cursor = hasUi ? ui.cursor : firstUnrated();
    var local = readLocal(task.id);
    if (local && local.unsynced) {
      // The last change never reached the server: the browser copy is newer.
      state.labels = local.labels || {};
      state.notes = local.notes || state.notes;
      state.history = local.history || [];
      state.cursor = local.cursor || 0;
      state.correction = local.correction || "";
      state.note = local.note || "";
      state.activeMs = Math.max(state.activeMs, local.activeMs || 0);
      sync.pending = Math.max(1, local.pending || 0);
      if (local.segments !== undefined && JSON.stringify(local.segments) !== JSON.stringify(state.segments)) {
        // Split or merged in this browser and not saved yet: its labels index that segmentation.
        state.segments = local.segments;
        task.segments = local.segments;
        task.served_steps = local.segments ? state.served : null;
        task.steps = PRMSegments.stepsFor(local.segments || PRMSegments.identity(state.served), state.served,
          state.servedHints);
        view = null;
      }
    }
    state.critiqueStep = firstNegative();
    state.view = view && view.task.id === task.id ? view : View.build(task);
    var t0 = performance.now();
    $("task").replaceChildren(state.view.root);
    $("task").hidden = false;
    $("finishbar").hidden = false;
    state.view.correction.input.value = state.correction;
    renderPreview();
    $("note").value = state.note;
    $("timer").textContent = fmt(state.activeMs);
    refresh();
    PRMRender.markOverflow(state.view.root);
    window.scrollTo(0, 0);
    app.dataset.shownTask = String(task.id);
    window.PRMLabeler.lastShowMs = performance.now() - t0;
    showSync();
    if (sync.pending > 0) changed(false);
  }

  // ------------------------------------------------------------- steps

  function refresh() {
    if (!state.view) return;
    var neg = firstNegative();
    var visible = visibleCount();
    state.cursor = Math.max(0, Math.min(state.cursor, lastReachable()));
    var critAt = critique.at();
    if (critAt < 0) state.picking = false;
    View.update(state.view, {
      labels: state.labels, cursor: state.cursor, visible: visible, lockedAfter: lockedAfter(),
      readOnly: state.readOnly,
      correctionAt: neg >= 0 && state.task.allow_corrections && !(state.readOnly && !state.correction) ? neg : -1,
      critiqueAt: critAt, notes: state.notes, picking: state.picking
    });
    critique.shown(critAt);
    var hidden = n() - visible;
    var more = state.view.more;
    var locked = lockedAfter() >= 0 ? n() - 1 - lockedAfter() : 0;
    if (hidden > 0) {
      more.hidden = false;
      more.textContent = neg >= 0 ? hidden + " later step(s) are not rated: the first error ends the rating."
        : hidden + " more step(s) appear as you rate.";
    } else if (locked > 0) {
      more.hidden = false;
      more.textContent = "The first error ends the rating: the " + locked + " step(s) after it are not rated.";
    } else {
      more.hidden = true;
    }
    updateFinish();
    focusCursor();
  }

  function focusCursor() {
    var li = state.view && View.row(state.view, state.cursor);
    if (!li) return;
    var active = document.activeElement;
    if (active && /TEXTAREA|INPUT|SELECT/.test(active.tagName)) return;
    if (active !== li) li.focus({ preventScroll: true });
    var rect = li.getBoundingClientRect();
    var bar = $("finishbar").getBoundingClientRect().height || 0;
    if (rect.top < 60 || rect.bottom > window.innerHeight - bar - 20) li.scrollIntoView({ block: "center" });
  }

  function snapshot(i) {
    var l = state.labels[i];
    return { step: i, rating: l ? l.rating : null, flagged: l ? !!l.flagged : false };
  }

  function pushHistory(entry) {
    state.history.push(entry);
    if (state.history.length > MAX_HISTORY) state.history.splice(0, state.history.length - MAX_HISTORY);
  }

  function rate(value) {
    var i = state.cursor;
    if (!rateable(i)) return;
    var entry = [snapshot(i)];
    var cur = state.labels[i] || { rating: null, flagged: false };
    state.labels[i] = { rating: value, flagged: !!cur.flagged };
    if (value === -1) state.critiqueStep = i;
    if (firstError() && value === -1) {
      // Nothing after the first error is collected in this mode.
      for (var j = i + 1; j < n(); j++) {
        if (state.labels[j]) { entry.push(snapshot(j)); delete state.labels[j]; }
      }
    } else if (i < n() - 1) {
      state.cursor = i + 1;
    }
    pushHistory(entry);
    refresh();
    changed(true);
  }

  // After a split or merge: the task's steps changed, so its view is built again.
  function rebuild() {
    state.view = View.build(state.task);
    $("task").replaceChildren(state.view.root);
    state.view.correction.input.value = state.correction;
    state.critiqueStep = firstNegative();
    refresh();
    PRMRender.markOverflow(state.view.root);
  }

  // The suggested rating of the current step, as if its key was pressed (one key per step, as always).
  function acceptSuggestion() {
    var s = state.task && state.task.steps[state.cursor];
    if (s && (s.suggested === -1 || s.suggested === 0 || s.suggested === 1)) rate(s.suggested);
  }

  function toggleFlag() {
    var i = state.cursor;
    if (!rateable(i)) return;
    pushHistory([snapshot(i)]);
    var cur = state.labels[i] || { rating: null, flagged: false };
    state.labels[i] = { rating: cur.rating, flagged: !cur.flagged };
    if (state.labels[i].rating === null && !state.labels[i].flagged) delete state.labels[i];
    refresh();
    changed(true);
  }

  function undo() {
    if (state.readOnly || state.submitting) return;
    var entry = state.history.pop();
    if (!entry) { notice("Nothing to undo."); return; }
    entry.forEach(function (s) {
      if (s.rating === null && !s.flagged) delete state.labels[s.step];
      else state.labels[s.step] = { rating: s.rating, flagged: !!s.flagged };
    });
    state.cursor = entry[0].step;
    refresh();
    changed(true);
  }

  function moveTo(i) {
    if (!state.task) return;
    var target = Math.max(0, Math.min(lastReachable(), i));
    if (target === state.cursor) { focusCursor(); return; }
    state.cursor = target;
    refresh();
    changed(false);
  }

  // --------------------------------------------------------- finishing

  function completeness() {
    var neg = firstNegative();
    var limit = firstError() && neg >= 0 ? neg : n();
    for (var i = 0; i < limit; i++) if (!rated(i)) return { ok: false, missing: i };
    var need = neg >= 0 ? critique.missing(neg) : null;
    if (need) return { ok: false, missing: neg, need: need };
    return { ok: true, reason: neg >= 0 ? "found_error" : "solution" };
  }

  function missingText(c, before) {
    if (c.need === "critique") return "Write what is wrong with step " + (c.missing + 1) + " (e) " + before;
    if (c.need === "types") return "Pick an error type for step " + (c.missing + 1) + " (t, then a digit) " + before;
    return "Rate step " + (c.missing + 1) + " " + before;
  }

  function updateFinish() {
    var c = completeness();
    $("finish-hint").textContent = c.ok
      ? (c.reason === "found_error" ? "Submits as: found an error (step " + (firstNegative() + 1) + ")"
        : "Submits as: rated to the end, no error")
      : missingText(c, "to submit");
    $("btn-submit").disabled = !c.ok || state.readOnly;
    // A hint about what blocks the submit goes as soon as it no longer holds.
    if (c.ok && $("banner").dataset.kind === "hint") hideBanner();
  }

  function submit(reason) {
    if (!state.task || state.submitting || state.readOnly || state.resuming) return;
    var c = completeness();
    if (!reason) {
      if (!c.ok) {
        state.cursor = c.missing;
        refresh();
        banner(missingText(c, "before submitting") + " (or give up / report a bad problem).", null, null, "hint");
        return;
      }
      reason = c.reason;
    }
    if (reason === "bad_problem" && !state.note.trim()) {
      openBadProblem();
      banner("Say what is wrong with the problem first.", null, null, "hint");
      return;
    }
    var neg = firstNegative();
    var ratings = draftBody().ratings;
    if (firstError() && neg >= 0) ratings = ratings.filter(function (r) { return r.step <= neg; });
    ratings.forEach(function (r) {  // a critique kept while the rating changed goes only with a negative
      if (r.rating !== -1) { delete r.critique; delete r.error_types; }
    });
    state.pendingSubmit = {
      id: state.task.id,
      body: {
        submission_id: submissionId(state.task.id), ratings: ratings, finish_reason: reason, note: state.note,
        corrected_step: neg >= 0 ? state.correction : "", active_ms: state.activeMs, segments: state.segments
      }
    };
    state.submitting = true;
    clearTimeout(sync.soon);
    saveLocal(true);
    sendSubmit();
  }

  function sendSubmit() {
    var p = state.pendingSubmit;
    if (!p) return;
    $("btn-submit").disabled = true;
    api.post("assignments/" + p.id + "/submit/", p.body).then(function () {
      if (state.pendingSubmit !== p) return;
      finished(p.id, true);
      backOnline();
      advance();
    }, function (err) {
      if (state.pendingSubmit !== p) return;
      if (err.network) { goOffline(); return; }
      state.pendingSubmit = null;
      state.submitting = false;
      updateFinish();
      taskError(err);
    });
  }

  function finished(id, counted) {
    state.closed[id] = true;
    state.pendingSubmit = null;
    state.submitting = false;
    sync.pending = 0;
    forget(id);
    if (counted) {
      state.sessionDone += 1;
      state.durations.push(state.activeMs);
      sessionStorage.setItem("prm-done", String(state.sessionDone));
      sessionStorage.setItem("prm-durations", JSON.stringify(state.durations.slice(-200)));
      updateStrip();
    }
  }

  function skip() {
    if (!state.task || state.submitting) return;
    var id = state.task.id;
    state.submitting = true;
    api.post("assignments/" + id + "/skip/", { note: "" }).then(function () {
      finished(id, false);
      advance();
    }, function (err) {
      state.submitting = false;
      if (err.network) { notice("No connection: the skip did not go through. Try again when you are back online."); return; }
      taskError(err);
    });
  }

  function updateStrip() {
    $("done-count").textContent = String(state.sessionDone);
    var d = state.durations.slice().sort(function (a, b) { return a - b; });
    if (d.length) {
      var m = d.length % 2 ? d[(d.length - 1) / 2] : (d[d.length / 2 - 1] + d[d.length / 2]) / 2;
      $("median").textContent = fmt(m);
    }
  }

  // ------------------------------------------ errors on the task on screen

  function taskError(err) {
    var id = state.task && state.task.id;
    if (err.code === "already_submitted" || err.code === "already_skipped") {
      if (id) finished(id, false);
      notice(err.code === "already_submitted"
        ? "That task was already submitted (in another tab or an earlier try). Here is the next one."
        : "That task was skipped in another tab. Here is the next one.");
      advance();
      return;
    }
    if (err.code === "lease_expired") {
      saveLocal(true);
      banner("Your lease on this task lapsed, so it may have gone to someone else. Your ratings are kept.",
        "Resume", resume, "lease");
      return;
    }
    if (err.code === "task_taken") { enterReadOnly(); return; }
    if (err.status === 403) { banner(err.message + " (your work so far is kept)"); return; }
    banner(err.message + " Your ratings are kept.");
  }

  function resume() {
    if (!state.task || state.resuming) return;
    var id = state.task.id;
    hideBanner();
    state.resuming = true;
    api.post("assignments/" + id + "/open/").then(function (task) {
      state.resuming = false;
      if (!state.task || state.task.id !== id) return;
      saveLocal(true);  // the ratings on screen are the newest: keep them over the server draft
      sync.pending = Math.max(sync.pending, 1);
      showTask(task, state.view);
      state.opened = true;
      notice("Resumed: the task is yours again, with your ratings.");
      prefetch();
    }, function (err) {
      state.resuming = false;
      if (!state.task || state.task.id !== id) return;
      if (err.network) {
        goOffline();
        banner("No connection yet: Resume again when you are back online.", "Resume", resume, "lease");
        return;
      }
      taskError(err);
    });
  }

  function enterReadOnly() {
    state.readOnly = true;
    state.submitting = false;
    state.pendingSubmit = null;
    app.dataset.readonly = "true";
    refresh();
    banner("This task went to someone else while your lease had lapsed. Your ratings for it are shown read-only " +
      "below; nothing more is saved for it.", "Dismiss and go on", dismissReadOnly, "taken");
  }

  function dismissReadOnly() {
    if (!state.task) return;
    var id = state.task.id;
    finished(id, false);
    state.readOnly = false;
    app.removeAttribute("data-readonly");
    advance();
  }

  // ------------------------------------------------ banner and notices

  function banner(text, actionText, action, kind) {
    var b = $("banner");
    var again = !b.hidden && b.dataset.kind === (kind || "error") && $("banner-text").textContent === text;
    b.hidden = false;
    b.dataset.kind = kind || "error";
    $("banner-text").textContent = text;
    var btn = $("banner-action");
    btn.hidden = !actionText;
    btn.textContent = actionText || "";
    btn.onclick = action || null;
    if (actionText && !again) btn.focus();
  }

  function hideBanner() {
    var b = $("banner");
    b.hidden = true;
    b.dataset.kind = "";
  }

  var noticeTimer = null;
  function notice(text) {
    var el = $("notice");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { el.hidden = true; }, 6000);
  }

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

  // ------------------------------------------------------------ density

  function setDensity(d) {
    app.dataset.density = d;
    $("btn-density").textContent = d === "compact" ? "Comfortable" : "Compact";
    $("btn-density").setAttribute("aria-label", "Switch to " + (d === "compact" ? "comfortable" : "compact") +
      " density (d)");
    try { localStorage.setItem("prm-density", d); } catch (e) { /* remembered for this page only */ }
    if (state.view) PRMRender.markOverflow(state.view.root);
  }

  // --------------------------------------------------------- correction

  var previewTimer = null;
  function renderPreview() {
    if (!state.view) return;
    var p = state.view.correction.preview;
    p.hidden = !state.correction.trim();
    if (!p.hidden) PRMRender.renderInto(p, state.correction);
  }

  var critique = PRMCritique.create({
    state: state, rated: rated, lockedAfter: lockedAfter, firstNegative: firstNegative, refresh: refresh,
    changed: changed, updateFinish: updateFinish
  });

  var segments = PRMSegments.create({
    state: state, rateable: rateable, n: n, rebuild: rebuild, changed: changed, focusCursor: focusCursor,
    // Progressive reveal: merging with a step not shown yet would show it.
    canMerge: function (k) { return !progressive() || k + 1 < visibleCount(); },
    hint: function (msg) { banner(msg, null, null, "hint"); }
  });

  // ------------------------------------------------------------ keyboard

  function inText(ev) { return /TEXTAREA|INPUT|SELECT/.test(ev.target.tagName); }

  document.addEventListener("keydown", function (ev) {
    state.lastInput = Date.now();
    if ($("help").open || $("instructions").open) return;  // <dialog> handles Esc itself
    if (inText(ev)) {
      if (ev.key === "Escape") {
        if (ev.target.id === "note") $("bad-reason").hidden = true;
        ev.target.blur();
        focusCursor();
        ev.preventDefault();
      }
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && ev.target.id === "note") {
        ev.preventDefault();
        submit("bad_problem");
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    // Enter or Space on a focused button (Cancel, Undo, a toolbar button) is that button's click.
    if ((ev.key === "Enter" || ev.key === " ") && ev.target.tagName === "BUTTON") return;
    if (state.confirm) {
      if (ev.key === "Enter") { ev.preventDefault(); var fn = state.confirm; closeConfirm(); fn(); }
      else if (ev.key === "Escape") { ev.preventDefault(); closeConfirm(); }
      return;
    }
    if (critique.keydown(ev)) return;
    var kind = $("banner").hidden ? "" : $("banner").dataset.kind;
    if ((kind === "taken" || kind === "lease" || kind === "load") && ev.key === "Enter") {
      ev.preventDefault();
      $("banner-action").click();
      return;
    }
    var handled = true;
    switch (ev.key) {
      case "1": case "-": rate(-1); break;
      case "2": case "0": rate(0); break;
      case "3": case "+": case "=": rate(1); break;
      case "j": case "ArrowDown": moveTo(state.cursor + 1); break;
      case "k": case "ArrowUp": moveTo(state.cursor - 1); break;
      case "Home": moveTo(0); break;
      case "End": moveTo(lastReachable()); break;
      case "a": acceptSuggestion(); break;
      case "x": handled = segments.openSplit(); break;
      case "m": handled = segments.mergeNext(); break;
      case "f": toggleFlag(); break;
      case "u": undo(); break;
      case "Enter": submit(); break;
      case "g": if (!state.readOnly) ask("Give up on this solution? Your ratings so far are kept.", function () { submit("give_up"); }); break;
      case "b": if (!state.readOnly) openBadProblem(); break;
      case "s": if (!state.readOnly) ask("Skip this task? It goes to someone else.", skip); break;
      case "c":
        if (state.view && !state.view.correction.box.hidden && !state.readOnly) state.view.correction.input.focus();
        else handled = false;
        break;
      case "e": handled = critique.focus(); break;
      case "t": handled = critique.setPicking(true); break;
      case "d": setDensity(app.dataset.density === "compact" ? "comfortable" : "compact"); break;
      case "?": $("help").showModal(); break;
      case "i": $("instructions").showModal(); break;
      case "Escape": if (kind === "hint" || kind === "error") hideBanner(); $("bad-reason").hidden = true; break;
      default: handled = false;
    }
    if (handled) ev.preventDefault();
  });

  ["mousemove", "mousedown", "wheel", "touchstart"].forEach(function (t) {
    document.addEventListener(t, function () { state.lastInput = Date.now(); }, { passive: true });
  });

  // ------------------------------------------------------------ pointer

  $("task").addEventListener("click", function (ev) {
    var typeBtn = ev.target.closest("button[data-error-type]");
    if (typeBtn && state.view) {
      critique.toggleType(state.view.critique.typeButtons.indexOf(typeBtn));
      return;
    }
    var li = ev.target.closest("li.step");
    if (!li || !state.view) return;
    var i = Number(li.dataset.stepIndex);
    var btn = ev.target.closest("button");
    if (btn && btn.disabled) return;
    if (btn && btn.dataset.rating !== undefined) {
      if (i > lastReachable()) return;
      state.cursor = i;
      rate(Number(btn.dataset.rating));
    } else if (btn && btn.dataset.action === "flag") {
      state.cursor = i;
      toggleFlag();
    } else if (!btn && !ev.target.closest("a") && i <= lastReachable()) {
      moveTo(i);
    }
  });

  $("task").addEventListener("input", function (ev) {
    var role = ev.target.dataset.role;
    if ((role !== "correction-input" && role !== "critique-input") || state.readOnly) return;
    if (role === "critique-input") {
      if (!critique.input(ev.target.value)) return;
    } else {
      state.correction = ev.target.value;
      clearTimeout(previewTimer);
      previewTimer = setTimeout(renderPreview, 120);
    }
    sync.pending += 1;
    saveLocal(true);
    clearTimeout(sync.soon);
    sync.soon = setTimeout(flush, 600);
    showSync();
  });

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
  $("btn-density").addEventListener("click", function () {
    setDensity(app.dataset.density === "compact" ? "comfortable" : "compact");
  });
  $("note").addEventListener("input", function (ev) {
    state.note = ev.target.value;
    sync.pending += 1;
    saveLocal(true);
    clearTimeout(sync.soon);
    sync.soon = setTimeout(flush, 600);
    showSync();
  });

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (state.view) PRMRender.markOverflow(state.view.root); }, 150);
  });

  // ------------------------------------------------------- page lifetime

  // The task on screen keeps its lease (a reload resumes it); the one fetched
  // ahead goes back to the pool now rather than when its short lease runs out.
  window.addEventListener("pagehide", function () {
    if (state.task && !state.readOnly) saveLocal(sync.pending > 0 || sync.inFlight);
    if (state.ahead) {
      api.beacon("assignments/" + state.ahead.id + "/release/");
      state.ahead = null;
      state.aheadView = null;
    }
  });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) prefetch(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden" && state.task && !state.readOnly) saveLocal(sync.pending > 0);
  });

  // ---------------------------------------------------------------- start

  var instructions = JSON.parse($("instructions-src").textContent || '""');
  PRMRender.renderInto($("instructions-body"), instructions || "_No instructions for this campaign._");
  var savedDensity = null;
  try { savedDensity = localStorage.getItem("prm-density"); } catch (e) { savedDensity = null; }
  setDensity(savedDensity === "comfortable" ? "comfortable" : "compact");
  updateStrip();
  setInterval(tick, 1000);
  setInterval(heartbeat, HEARTBEAT_MS);
  window.PRMLabeler = { state: state, sync: sync, lastShowMs: null };
  loadNext();
})();
