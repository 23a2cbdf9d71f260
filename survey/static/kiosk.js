/* Kiosk at a counter (/k/<code>): one tap (or a full form) → thanks → a fresh screen.
 *
 * - Every rating gets its own UUID here and goes into a queue in localStorage BEFORE the thanks
 *   screen shows; the queue is sent in batches and an entry leaves it only when the server has
 *   answered for its UUID (stored, duplicate, too soon, invalid). Offline, the queue waits and is
 *   sent when the network returns; a resend of the same UUID is stored once by the server.
 * - A minimum interval between ratings: presses within it are refused here (the screen says how
 *   long to wait) and their times are sent with the next batch, so staff see the blocked presses;
 *   the server enforces the same interval for whatever reaches it.
 * - After the thanks screen nothing of the last person remains: the form is replaced by an
 *   untouched copy, focus and selection are cleared, the language goes back to Vietnamese. No
 *   answer is ever in the URL or in a page of the history; the back button only resets.
 */
(function () {
  "use strict";
  var root = document.getElementById("kiosk");
  if (!root || !window.JSON || !window.fetch) { return; }
  var cfg = root.dataset;
  var mode = cfg.mode;
  var keys = {queue: "sipas-kiosk-queue:" + cfg.code, blocked: "sipas-kiosk-blocked:" + cfg.code,
              last: "sipas-kiosk-last:" + cfg.code};
  var intervalMs = (Number(cfg.interval) || 0) * 1000;
  var resetMs = (Number(cfg.reset) || 5) * 1000;
  var batchMax = Number(cfg.batch) || 20;
  var token = cfg.token;
  var lang = cfg.lang || "vi";
  var ask = document.getElementById("kiosk-ask");
  var thanks = document.getElementById("kiosk-thanks");
  var wait = document.getElementById("kiosk-wait");
  var net = document.getElementById("kiosk-net");
  var memory = {};          // when localStorage is unavailable, the queue lives here
  var sending = null;       // the flush in flight (one at a time)
  var failed = false;       // the last flush did not reach the server
  var timers = {};
  var startedAt = null;     // form mode: first answer of this person
  var form = document.getElementById("kiosk-form");
  var pristine = form ? form.cloneNode(true) : null;

  // --- storage ---------------------------------------------------------------------------
  function load(key, fallback) {
    try {
      var raw = window.localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return key in memory ? memory[key] : fallback;
    }
  }
  function save(key, value) {
    memory[key] = value;
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* memory only */ }
  }
  function queue() { return load(keys.queue, []); }

  function uuid4() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  // --- language --------------------------------------------------------------------------
  function setLang(next) {
    lang = next;
    document.documentElement.lang = next;
    Array.prototype.forEach.call(root.querySelectorAll("[data-vi][data-en]"), function (el) {
      if (!el.hasAttribute("data-fmt") && el.id !== "kiosk-wait" && el.id !== "kiosk-net"
          && el.id !== "kiosk-errors") {
        el.textContent = el.getAttribute("data-" + next);
      }
    });
    showWait();
    showNet();
  }
  function say(el, n) { return el.getAttribute("data-" + lang).replace("{n}", String(n)); }

  // --- interval ----------------------------------------------------------------------------
  function remaining() { return load(keys.last, 0) + intervalMs - Date.now(); }
  function countBlocked() {
    var list = load(keys.blocked, []);
    if (list.length < 1000) { list.push(Date.now()); }
    save(keys.blocked, list);
  }
  function showWait() {
    clearTimeout(timers.wait);
    var left = remaining();
    var locked = left > 0 && thanks.hidden;
    root.classList.toggle("locked", locked);
    Array.prototype.forEach.call(root.querySelectorAll(".tap, .send"), function (b) {
      b.setAttribute("aria-disabled", locked ? "true" : "false");
    });
    if (!locked) { wait.hidden = true; wait.textContent = ""; return; }
    wait.textContent = say(wait, Math.ceil(left / 1000));
    wait.hidden = false;
    timers.wait = setTimeout(showWait, Math.min(1000, left));
  }

  // --- queue and sending ---------------------------------------------------------------------
  function showNet() {
    var n = queue().length;
    if (failed && n) { net.textContent = say(net, n); net.hidden = false; }
    else { net.hidden = true; net.textContent = ""; }
  }

  function flush() {
    if (sending) { return sending; }
    var items = queue().slice(0, batchMax);
    var blocked = load(keys.blocked, []);
    if (!items.length && !blocked.length) { failed = false; showNet(); return Promise.resolve({}); }
    var body = JSON.stringify({sent_at: Date.now(), ratings: items, blocked: blocked});
    sending = fetch(cfg.submit, {method: "POST", body: body, cache: "no-store", credentials: "same-origin",
                                 headers: {"Content-Type": "application/json"}})
      .then(function (resp) {
        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
        return resp.json();
      })
      .then(function (data) {
        var outcomes = {};
        (data.results || []).forEach(function (row, i) {
          if (items[i]) { outcomes[items[i].uuid] = row; }
        });
        // The server answered for each of these UUIDs: they leave the queue (it may have grown).
        save(keys.queue, queue().filter(function (x) { return !outcomes[x.uuid]; }));
        save(keys.blocked, load(keys.blocked, []).slice(blocked.length));
        failed = false;
        sending = null;
        timers.backoff = 0;
        showNet();
        if (queue().length) { setTimeout(flush, 0); }
        return outcomes;
      })
      .catch(function () {
        failed = true;
        sending = null;
        showNet();
        retryLater();
        return null;
      });
    return sending;
  }

  // After a failure: try again in 2, 4, 8 … seconds (at most 60), sooner on the "online" event.
  function retryLater() {
    clearTimeout(timers.retry);
    timers.backoff = Math.min((timers.backoff || 1000) * 2, 60000);
    timers.retry = setTimeout(flush, timers.backoff);
  }

  function accept(answers, formSeconds) {
    var previous = load(keys.last, 0);
    var now = Date.now();
    var item = {uuid: uuid4(), answers: answers, pressed_at: now, token: token, lang: lang,
                form_seconds: formSeconds};
    save(keys.queue, queue().concat([item]));  // kept before anything is shown
    save(keys.last, now);
    return {item: item, previous: previous};
  }

  // --- screens -------------------------------------------------------------------------------
  function showThanks() {
    ask.hidden = true;
    thanks.hidden = false;
    showWait();
    clearTimeout(timers.reset);
    timers.reset = setTimeout(reset, resetMs);
  }

  function forget() {
    if (document.activeElement && document.activeElement.blur) { document.activeElement.blur(); }
    if (window.getSelection) { window.getSelection().removeAllRanges(); }
    window.scrollTo(0, 0);
  }

  function reset() {
    clearTimeout(timers.reset);
    startedAt = null;
    if (form) {
      var fresh = pristine.cloneNode(true);
      form.parentNode.replaceChild(fresh, form);
      form = fresh;
      var errors = document.getElementById("kiosk-errors");
      if (errors) { errors.hidden = true; errors.textContent = ""; }
      if (cfg.lang !== "vi" && !failed && navigator.onLine) {
        window.location.replace(cfg.home);  // the next person starts in Vietnamese
        return;
      }
    }
    thanks.hidden = true;
    ask.hidden = false;
    if (mode === "tap") { setLang("vi"); }
    forget();
    showWait();
  }

  // --- one tap ---------------------------------------------------------------------------------
  function onTap(ev) {
    if (!thanks.hidden) {  // tapping on the thanks screen: the same person pressing again
      if (remaining() > 0) { countBlocked(); }
      return;
    }
    var button = ev.target.closest ? ev.target.closest(".tap") : null;
    if (!button) { return; }
    if (remaining() > 0) { countBlocked(); showWait(); return; }
    var answers = {};
    answers[cfg.item] = [button.getAttribute("data-value")];
    accept(answers, null);
    button.blur();
    showThanks();
    flush();
  }

  // --- full questionnaire ------------------------------------------------------------------------
  function collect() {
    var answers = {};
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string" && value.trim() !== "") { (answers[name] = answers[name] || []).push(value); }
    });
    return answers;
  }

  function missingRequired() {
    var message = document.getElementById("kiosk-required").textContent;
    var errors = {};
    Array.prototype.forEach.call(form.querySelectorAll("fieldset.q"), function (fs) {
      if (!fs.querySelector("legend .req") || !fs.getClientRects().length) { return; }
      var answered = fs.querySelector("input:checked") ||
        Array.prototype.some.call(fs.querySelectorAll("textarea, input[type=number]"), function (el) {
          return el.value.trim() !== "";
        });
      if (!answered) { errors[fs.id.replace(/^item-/, "")] = message; }
    });
    return errors;
  }

  function showErrors(errors) {
    Array.prototype.forEach.call(form.querySelectorAll(".err[data-kiosk]"), function (p) { p.remove(); });
    Array.prototype.forEach.call(form.querySelectorAll("fieldset.q.bad"), function (fs) { fs.classList.remove("bad"); });
    var first = null;
    var n = 0;
    Object.keys(errors).forEach(function (code) {
      var fs = document.getElementById("item-" + code);
      if (!fs) { return; }
      var p = document.createElement("p");
      p.className = "err";
      p.setAttribute("data-kiosk", "");
      p.textContent = errors[code];
      fs.insertBefore(p, fs.querySelector("legend").nextSibling);
      fs.classList.add("bad");
      first = first || fs;
      n += 1;
    });
    var box = document.getElementById("kiosk-errors");
    box.textContent = say(box, n);
    box.hidden = n === 0;
    if (first) { first.scrollIntoView({block: "center"}); }
  }

  function onSubmit(ev) {
    if (ev.target !== form) { return; }
    ev.preventDefault();
    if (remaining() > 0) { countBlocked(); showWait(); return; }
    var missing = missingRequired();
    if (Object.keys(missing).length) { showErrors(missing); return; }
    var seconds = startedAt ? Math.round((Date.now() - startedAt) / 1000) : null;
    var made = accept(collect(), seconds);
    var answered = false;
    var done = function (outcomes) {
      if (answered) { return; }
      answered = true;
      var mine = outcomes && outcomes[made.item.uuid];
      var fixable = mine && mine.status === "invalid" && mine.errors &&
        Object.keys(mine.errors).some(function (code) { return document.getElementById("item-" + code); });
      if (fixable) {  // an answer the person can correct; anything else ends with thanks
        save(keys.last, made.previous);  // nothing was stored: no interval to wait
        showErrors(mine.errors);
        return;
      }
      showThanks();
    };
    flush().then(done);
    setTimeout(function () { done(null); }, 4000);  // a slow network: the queue keeps it
  }

  // --- history: the back button resets, it never shows an earlier person ---------------------------
  function guardHistory() {
    var here = window.location.pathname + window.location.search;
    window.history.replaceState({kiosk: "home"}, "", here);
    window.history.pushState({kiosk: "guard"}, "", here);
  }
  window.addEventListener("popstate", function () {
    reset();
    window.history.pushState({kiosk: "guard"}, "", window.location.pathname + window.location.search);
  });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) { reset(); } });

  // --- token refresh and retries ------------------------------------------------------------------
  function refreshToken() {
    fetch(cfg.tokenUrl, {cache: "no-store", credentials: "same-origin"})
      .then(function (resp) { if (!resp.ok) { throw new Error(); } return resp.json(); })
      .then(function (data) { if (data.token) { token = data.token; } })
      .catch(function () { /* keep the one we have: it is valid for days */ });
  }

  root.addEventListener("click", function (ev) {
    var link = ev.target.closest ? ev.target.closest("#kiosk-lang") : null;
    if (link && mode === "tap") { ev.preventDefault(); setLang(lang === "vi" ? "en" : "vi"); return; }
    if (mode === "tap") { onTap(ev); }
    else if (!thanks.hidden && remaining() > 0) { countBlocked(); }
  });
  root.addEventListener("submit", onSubmit);
  root.addEventListener("change", function () { if (startedAt === null) { startedAt = Date.now(); } });
  root.addEventListener("input", function () { if (startedAt === null) { startedAt = Date.now(); } });
  window.addEventListener("online", function () { flush(); refreshToken(); });
  window.addEventListener("offline", function () { failed = true; showNet(); });
  setInterval(function () { if (queue().length || load(keys.blocked, []).length) { flush(); } }, 15000);
  setInterval(refreshToken, 30 * 60 * 1000);

  // The service worker keeps a copy of this screen for a reload without network (secure pages only).
  // This page and its script and styles are copied into its cache once it runs (the first load
  // came before the worker existed).
  if ("serviceWorker" in navigator && window.isSecureContext && cfg.sw && window.caches) {
    navigator.serviceWorker.register(cfg.sw)
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function () {
        var urls = [window.location.pathname + (cfg.lang === "en" ? "?lang=en" : "")];
        Array.prototype.forEach.call(document.querySelectorAll("link[rel=stylesheet], script[src]"), function (el) {
          urls.push(el.getAttribute("href") || el.getAttribute("src"));
        });
        return window.caches.open("sipas-kiosk-v1").then(function (cache) { return cache.addAll(urls); });
      })
      .catch(function () { /* the page works without it */ });
  }

  guardHistory();
  showWait();
  flush();
}());
