// Mayfly's page behaviour. Loaded with `defer` after htmx and its SSE
// extension; no inline scripts anywhere (Content-Security-Policy script-src 'self').
//
//   [data-expires-at="RFC3339"]  live time left: "1h 04m", "3m 12s", "expired";
//                                sets data-soon (< 15 min) and data-expired.
//   time[data-relative]          keeps its datetime's relative text current
//                                ("5m ago", "in 3h"; mirrors web.Ago);
//   time[data-local-time]        shows its datetime in the browser's time zone;
//                                value "time" for the time of day only, "date"
//                                for the date only.
//   [data-autoscroll]            stays scrolled to the bottom across htmx swaps
//                                (logs), unless the reader scrolled up.
//   [data-copy="text"]           copies text to the clipboard on click.
//   form[data-disable-on-submit] disables its submit buttons once submitted.
//   meta[name=csrf-token]        sent as X-CSRF-Token with every htmx request.
//   meta[name=mayfly-now]        the server's clock when the page was rendered:
//                                countdowns follow the server, not a skewed client.
//   [data-dialog-open="id"]      opens the <dialog> of that id as a modal
//                                (the destroy confirmation); a form marked
//                                data-close-dialog closes its dialog once
//                                its htmx request is answered.
//   [data-dismiss]               removes the closest [data-dismissable] (notices).
//   SSE rows appended (beforeend) whose id is already on the page are dropped.
//   [data-keep-input][id]        a part of a live (SSE) card that the user is
//                                filling in: while it was edited or holds the
//                                focus, a live update redraws the card around
//                                it and keeps it as it is (typed values, focus).
//   SSE event "signin" (a stream whose session ended): the page goes to
//                                the sign-in URL it carries.
//   #toasts + template#toast-error  a notice when an htmx request fails
//                                (not for elements marked data-quiet-errors).
//
// Error responses: htmx does not swap 4xx/5xx responses. One that names its
// own target (HX-Retarget, e.g. an error banner for #flash) is meant to be
// shown, so it is swapped; other failures get a toast. A successful action
// (not a GET) clears the notices of the previous one.
(function () {
  "use strict";

  var SOON_MS = 15 * 60 * 1000;

  // Difference between the server's clock and ours, from the page's meta tag.
  var clockOffset = 0;
  var nowMeta = document.querySelector('meta[name="mayfly-now"]');
  if (nowMeta) {
    var serverNow = Date.parse(nowMeta.content);
    if (!isNaN(serverNow)) clockOffset = serverNow - Date.now();
  }
  function now() {
    return Date.now() + clockOffset;
  }

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // countdown mirrors web.Countdown in Go: keep both in step.
  function countdown(ms) {
    if (ms <= 0) return "expired";
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60);
    var h = Math.floor(m / 60);
    var d = Math.floor(h / 24);
    if (h < 1) return m + "m " + pad(s % 60) + "s";
    if (d < 1) return h + "h " + pad(m % 60) + "m";
    return d + "d " + pad(h % 24) + "h";
  }

  function setFlag(el, name, on) {
    if (on) {
      if (!el.hasAttribute(name)) el.setAttribute(name, "");
    } else if (el.hasAttribute(name)) {
      el.removeAttribute(name);
    }
  }

  function updateCountdowns(root) {
    var els = (root || document).querySelectorAll("[data-expires-at]");
    var t = now();
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var at = Date.parse(el.getAttribute("data-expires-at"));
      if (isNaN(at)) continue;
      var left = at - t;
      var text = countdown(left);
      if (el.textContent !== text) el.textContent = text;
      setFlag(el, "data-expired", left <= 0);
      setFlag(el, "data-soon", left > 0 && left < SOON_MS);
    }
  }

  var formats = {};
  function formatter(kind) {
    if (!formats[kind]) {
      var opts;
      if (kind === "time") opts = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
      else if (kind === "date") opts = { year: "numeric", month: "short", day: "numeric" };
      else opts = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
      formats[kind] = new Intl.DateTimeFormat(undefined, opts);
    }
    return formats[kind];
  }

  function updateLocalTimes(root) {
    var els = (root || document).querySelectorAll("[data-local-time]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var at = Date.parse(el.getAttribute("datetime") || "");
      if (isNaN(at)) continue;
      var text = formatter(el.getAttribute("data-local-time") || "datetime").format(new Date(at));
      if (el.textContent !== text) el.textContent = text;
    }
  }

  // ago mirrors web.Ago in Go: keep both in step. Past a month it is the
  // date, which the server rendered already (null: leave the text).
  function ago(ms) {
    var future = ms < 0;
    if (future) ms = -ms;
    var s;
    if (ms < 45 * 1000) return "just now";
    if (ms < 3600 * 1000) s = Math.max(1, Math.floor(ms / 60000)) + "m";
    else if (ms < 24 * 3600 * 1000) s = Math.floor(ms / 3600000) + "h";
    else if (ms < 30 * 24 * 3600 * 1000) s = Math.floor(ms / 86400000) + "d";
    else return null;
    return future ? "in " + s : s + " ago";
  }

  function updateRelativeTimes(root) {
    var els = (root || document).querySelectorAll("time[data-relative]");
    var t = now();
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var at = Date.parse(el.getAttribute("datetime") || "");
      if (isNaN(at)) continue;
      var text = ago(t - at);
      if (text !== null && el.textContent !== text) el.textContent = text;
    }
  }

  function refresh(root) {
    updateCountdowns(root);
    updateLocalTimes(root);
    updateRelativeTimes(root);
  }

  // Logs: remember, before a swap, whether each autoscroll box was at the
  // bottom; after the swap, put the new box back where the reader was.
  var scrollState = {};
  function atBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  }
  function saveScroll() {
    var els = document.querySelectorAll("[data-autoscroll][id]");
    for (var i = 0; i < els.length; i++) {
      scrollState[els[i].id] = { bottom: atBottom(els[i]), top: els[i].scrollTop };
    }
  }
  function restoreScroll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var els = scope.querySelectorAll("[data-autoscroll][id]");
    if (scope.matches && scope.matches("[data-autoscroll][id]")) els = [scope];
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var st = scrollState[el.id];
      el.scrollTop = !st || st.bottom ? el.scrollHeight : st.top;
    }
  }

  function toast(message) {
    var box = document.getElementById("toasts");
    var tpl = document.getElementById("toast-error");
    if (!box || !tpl || !tpl.content) return;
    var node = tpl.content.firstElementChild.cloneNode(true);
    var text = node.querySelector("[data-toast-text]");
    if (text) text.textContent = message;
    var close = node.querySelector("[data-toast-close]");
    if (close) {
      close.addEventListener("click", function () {
        node.remove();
      });
    }
    box.appendChild(node);
    window.setTimeout(function () {
      node.remove();
    }, 8000);
  }

  function clearNotices() {
    var ids = ["flash", "notices"];
    for (var i = 0; i < ids.length; i++) {
      var el = document.getElementById(ids[i]);
      if (el) el.replaceChildren();
    }
  }

  function quiet(evt) {
    var elt = evt.detail && evt.detail.elt;
    return elt && elt.hasAttribute && elt.hasAttribute("data-quiet-errors");
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) evt.detail.headers["X-CSRF-Token"] = meta.content;
  });
  document.addEventListener("htmx:beforeSwap", function (evt) {
    saveScroll();
    var d = evt.detail;
    var xhr = d.xhr;
    if (!xhr || quiet(evt)) return;
    if (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      d.shouldSwap = true;
      d.isError = false;
      return;
    }
    var verb = d.requestConfig && d.requestConfig.verb;
    if (!d.isError && verb && verb !== "get") {
      clearNotices();
    }
  });
  // A timeline row already on the page (a stream that resumed too early) is
  // not appended twice.
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var data = evt.detail && evt.detail.data;
    var m = typeof data === "string" && /^\s*<[a-z]+[^>]*\sid="([^"]+)"/i.exec(data);
    if (m && document.getElementById(m[1]) && evt.target.getAttribute("hx-swap") === "beforeend") {
      evt.preventDefault();
      return;
    }
    saveScroll();
  });
  // A part being filled in survives a live update of its card: edited
  // (an input or change event in it) or focused, it is marked hx-preserve
  // in the update, so htmx moves the live element into the new content
  // instead of the server's fresh copy. An action's own answer (not SSE)
  // replaces it as usual.
  function markEdited(evt) {
    var part = evt.target.closest && evt.target.closest("[data-keep-input]");
    if (part) part.setAttribute("data-edited", "");
  }
  document.addEventListener("input", markEdited);
  document.addEventListener("change", markEdited);
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var target = evt.target;
    var data = evt.detail && evt.detail.data;
    if (evt.defaultPrevented || typeof data !== "string" || !target.querySelectorAll) return;
    var focused = document.activeElement;
    var busy = [];
    var parts = target.querySelectorAll("[data-keep-input][id]");
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].hasAttribute("data-edited") || parts[i].contains(focused)) busy.push(parts[i].id);
    }
    if (!busy.length) return;
    var tpl = document.createElement("template");
    tpl.innerHTML = data;
    var kept = false;
    for (var j = 0; j < busy.length; j++) {
      var part = tpl.content.getElementById(busy[j]);
      if (part) {
        part.setAttribute("hx-preserve", "true");
        kept = true;
      }
    }
    if (!kept) return; // the part is gone from the card (nothing to fill in any more)
    evt.preventDefault();
    var start = null, end = null;
    try {
      start = focused.selectionStart;
      end = focused.selectionEnd;
    } catch (e) {
      // not a text field
    }
    htmx.swap(target, tpl.innerHTML, { swapStyle: target.getAttribute("hx-swap") || "innerHTML" });
    if (focused && focused.isConnected && document.activeElement !== focused) {
      focused.focus();
      if (start !== null) {
        try {
          focused.setSelectionRange(start, end);
        } catch (e) {
          // not a text field
        }
      }
    }
    restoreScroll(document);
  });
  // A stream whose session ended (signed out, revoked, expired) sends
  // "signin" with the sign-in URL, a path on this site, and closes: the
  // whole page goes there instead of the stream retrying in vain.
  document.addEventListener("htmx:sseOpen", function (evt) {
    var source = evt.detail && evt.detail.source;
    if (!source || source.mayflySignin) return;
    source.mayflySignin = true;
    source.addEventListener("signin", function (e) {
      source.close();
      var to = String(e.data || "");
      if (to.charAt(0) !== "/" || to.charAt(1) === "/" || to.charAt(1) === "\\") to = "/signin";
      window.location.assign(to);
    });
  });
  document.addEventListener("htmx:sseMessage", function () {
    restoreScroll(document);
  });
  document.addEventListener("htmx:load", function (evt) {
    refresh(evt.target);
    restoreScroll(evt.target);
  });
  document.addEventListener("htmx:afterSwap", function () {
    refresh(document);
  });
  document.addEventListener("htmx:responseError", function (evt) {
    if (quiet(evt)) return;
    var xhr = evt.detail.xhr;
    toast("The request failed (" + (xhr ? xhr.status : "error") + "). Please try again.");
  });
  document.addEventListener("htmx:sendError", function (evt) {
    if (quiet(evt)) return;
    toast("Could not reach Mayfly. Check your connection and try again.");
  });

  // The in-page confirmation: answered (or failed), its dialog closes, so
  // the new card or the error is what the reader sees.
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail && evt.detail.elt;
    if (!form || !form.closest || !form.matches("[data-close-dialog]")) return;
    var dialog = form.closest("dialog");
    if (dialog && dialog.open) dialog.close();
  });

  document.addEventListener("click", function (evt) {
    var opener = evt.target.closest && evt.target.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
      if (dialog && dialog.showModal && !dialog.open) dialog.showModal();
      return;
    }
    var dismiss = evt.target.closest && evt.target.closest("[data-dismiss]");
    if (dismiss) {
      var notice = dismiss.closest("[data-dismissable]");
      if (notice) notice.remove();
      return;
    }
    var btn = evt.target.closest && evt.target.closest("[data-copy]");
    if (!btn || !navigator.clipboard) return;
    navigator.clipboard.writeText(btn.getAttribute("data-copy")).then(function () {
      btn.setAttribute("data-copied", "");
      window.setTimeout(function () {
        btn.removeAttribute("data-copied");
      }, 1500);
    });
  });

  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form.matches || !form.matches("form[data-disable-on-submit]")) return;
    // After the browser has collected the form data, not before.
    window.setTimeout(function () {
      var buttons = form.querySelectorAll('button[type="submit"], button:not([type])');
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].disabled = true;
        buttons[i].setAttribute("aria-busy", "true");
      }
    }, 0);
  });

  // Coming back with the browser's back button restores the page as it was,
  // disabled buttons included: enable them again.
  window.addEventListener("pageshow", function (evt) {
    if (!evt.persisted) return;
    var buttons = document.querySelectorAll('form[data-disable-on-submit] button[aria-busy="true"]');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = false;
      buttons[i].removeAttribute("aria-busy");
    }
  });

  function start() {
    refresh(document);
    restoreScroll(document);
    window.setInterval(function () {
      updateCountdowns(document);
      updateRelativeTimes(document);
    }, 1000);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
