/* Respondent pages, progressive enhancement only: everything works without this file.
 *
 * 1. Answers survive a reload or going back: the form's fields are kept in sessionStorage
 *    (this tab only) under the form's stamp, which carries its idempotency key, and filled
 *    back into fields the server left empty. Forgotten on the thank-you page, and whenever
 *    another form starts in the tab (a kiosk's next person never gets them).
 * 2. Kiosk thank-you page: a visible countdown to a fresh form for the next person, with
 *    "more time" and "start now" (WCAG 2.2.1: timing adjustable, announced, extendable).
 */
(function () {
  "use strict";
  var PREFIX = "cx-answers:";
  var store;
  try {
    store = window.sessionStorage;
    store.setItem(PREFIX + "probe", "1");
    store.removeItem(PREFIX + "probe");
  } catch (e) {
    store = null; // storage off (private mode, policy): the server-side behaviour stays
  }

  function forget(keep) {
    if (!store) return;
    for (var i = store.length - 1; i >= 0; i--) {
      var key = store.key(i);
      if (key && key.indexOf(PREFIX) === 0 && key !== keep) store.removeItem(key);
    }
  }

  function answerFields(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return /^i\d+$/.test(el.name) && el.type !== "hidden";
    });
  }

  function keepAnswers(form) {
    var stamp = form.elements.namedItem("stamp");
    if (!store || !stamp || !stamp.value) return;
    var key = PREFIX + stamp.value;
    forget(key);
    var saved = {};
    try {
      saved = JSON.parse(store.getItem(key) || "{}") || {};
    } catch (e) {
      saved = {};
    }
    var fields = answerFields(form);
    var answered = {};
    fields.forEach(function (el) {
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.checked) answered[el.name] = true;
      } else if (el.value) {
        answered[el.name] = true;
      }
    });
    // Fill only what the server left empty: what it rendered is newer.
    fields.forEach(function (el) {
      var values = saved[el.name];
      if (!values || answered[el.name]) return;
      if (el.type === "radio" || el.type === "checkbox") {
        el.checked = values.indexOf(el.value) !== -1;
      } else {
        el.value = values.join("\n");
      }
    });
    function save() {
      var current = {};
      answerFields(form).forEach(function (el) {
        if (!current[el.name]) current[el.name] = [];
        if (el.type === "radio" || el.type === "checkbox") {
          if (el.checked) current[el.name].push(el.value);
        } else if (el.value) {
          current[el.name].push(el.value);
        }
      });
      for (var name in current) saved[name] = current[name];
      try {
        store.setItem(key, JSON.stringify(saved));
      } catch (e) {
        /* full: the server-side behaviour stays */
      }
    }
    form.addEventListener("change", save);
    form.addEventListener("input", save);
  }

  function format(seconds) {
    var s = Math.max(0, seconds);
    return Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
  }

  function kioskReset(box) {
    var seconds = parseInt(box.getAttribute("data-seconds"), 10) || 30;
    var extra = parseInt(box.getAttribute("data-extra-seconds"), 10) || 60;
    var url = box.getAttribute("data-url");
    var message = box.getAttribute("data-message");
    var timer = box.querySelector("[data-timer]");
    var status = box.querySelector("[data-status]");
    var more = box.querySelector("[data-more]");
    var left = seconds;
    var deadline = Date.now() + left * 1000;
    var warned = false;

    function text() {
      return message.replace("{time}", format(left));
    }
    function announce() {
      status.textContent = text(); // polite live region: at start, on more time, near the end
    }
    function start() {
      forget(null);
      window.location.replace(url);
    }
    function tick() {
      var ms = deadline - Date.now();
      left = Math.max(0, Math.ceil(ms / 1000));
      timer.textContent = text();
      if (left <= 10 && !warned) {
        warned = true;
        announce();
      }
      if (left <= 0) {
        start();
        return;
      }
      window.setTimeout(tick, (ms % 1000 || 1000) + 20); // at the next whole second
    }
    more.addEventListener("click", function () {
      left = Math.max(left, 0) + extra;
      deadline = Date.now() + left * 1000;
      warned = left <= 10;
      timer.textContent = text();
      announce();
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-start]"), function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        start();
      });
    });
    box.hidden = false;
    timer.textContent = text();
    window.setTimeout(announce, 500); // once the live region is shown, so it is read out
    window.setTimeout(tick, 1000);
  }

  var form = document.querySelector("form[data-answers]");
  if (form) keepAnswers(form);
  if (document.querySelector("[data-thanks]")) forget(null); // stored: nothing to keep
  var box = document.querySelector("[data-kiosk-reset]");
  if (box) kioskReset(box);
})();
