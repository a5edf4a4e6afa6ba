/* gdprd consent widget.
 *
 * <script src="https://gdprd.example/widget.js" data-site="shop" defer></script>
 *
 * Stores nothing on the device until the visitor chooses; then keeps the
 * choice and an anonymous visitor token in localStorage ("gdprd-consent").
 * The host page reads the choice with window.gdprdConsent.choices() and
 * listens for the "gdprd:consent" event; it links the visitor to its signed-in
 * user by sending window.gdprdConsent.visitor() to gdprd's API.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.gdprdConsent) { return; }
  var base = new URL(script.src, location.href).origin;
  var site = script.getAttribute("data-site") || "default";
  var KEY = "gdprd-consent";
  var cfg = null;
  var root = null;

  function readStored() {
    try { return JSON.parse(window.localStorage.getItem(KEY)); } catch (e) { return null; }
  }
  var stored = readStored();

  window.gdprdConsent = {
    choices: function () { return stored ? stored.choices : null; },
    visitor: function () { return stored ? stored.visitor : null; },
    open: function () { if (cfg) { show(true); } }
  };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) { e.setAttribute(k, attrs[k]); } }
    if (text) { e.textContent = text; }
    return e;
  }

  function gpcOn() { return cfg.gpc || navigator.globalPrivacyControl === true; }

  function lang() {
    var l = (document.documentElement.lang || navigator.language || "en").toLowerCase();
    return l.slice(0, 2);
  }

  function load() {
    var css = el("link", { rel: "stylesheet", href: base + "/widget.css" });
    document.head.appendChild(css);
    var url = base + "/widget/config?site=" + encodeURIComponent(site) + "&lang=" + encodeURIComponent(lang());
    fetch(url, { credentials: "omit" }).then(function (r) {
      if (!r.ok) { throw new Error("gdprd widget: config " + r.status); }
      return r.json();
    }).then(function (c) {
      cfg = c;
      if (stored && sameNotices(stored.notices, shownNotices())) {
        reopenButton();
        announce();
      } else {
        show(false);
      }
    }).catch(function (e) { if (window.console) { console.warn(e.message); } });
  }

  // The notice versions this banner shows; a choice cites them all, and a
  // stored choice made on other versions is asked again.
  function shownNotices() {
    var out = {};
    Object.keys(cfg.notices).forEach(function (k) { out[k] = cfg.notices[k].version; });
    return out;
  }

  function sameNotices(a, b) {
    if (!a) { return false; }
    var ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && kb.every(function (k) { return a[k] === b[k]; });
  }

  function show(reopened) {
    if (root) { root.remove(); }
    var t = cfg.texts;
    root = el("section", { "class": "gdprd-cw", "aria-labelledby": "gdprd-cw-title", "lang": cfg.lang });
    root.appendChild(el("h2", { id: "gdprd-cw-title" }, t.title));
    var p = el("p", {}, t.body + " ");
    p.appendChild(el("a", { href: cfg.notice.url, target: "_blank", rel: "noopener" }, t.policy_link));
    root.appendChild(p);
    if (gpcOn()) { root.appendChild(el("p", { "class": "gdprd-cw-gpc" }, t.gpc_note)); }

    var panel = el("form", { "class": "gdprd-cw-panel", id: "gdprd-cw-panel" });
    panel.hidden = true;
    var fs = el("fieldset", {});
    fs.appendChild(el("legend", {}, t.purposes));
    cfg.purposes.forEach(function (pp) {
      var id = "gdprd-cw-p-" + pp.slug;
      var row = el("div", { "class": "gdprd-cw-purpose" });
      var box = el("input", { type: "checkbox", role: "switch", id: id, name: pp.slug, "aria-describedby": id + "-d" });
      // Unticked unless the visitor switched it on before: never pre-ticked.
      box.checked = !!(reopened && stored && stored.choices && stored.choices[pp.slug]);
      var label = el("label", { "for": id }, pp.name);
      var wrap = el("div", {});
      wrap.appendChild(label);
      wrap.appendChild(el("span", { id: id + "-d" }, pp.description));
      row.appendChild(box);
      row.appendChild(wrap);
      fs.appendChild(row);
    });
    panel.appendChild(fs);
    var save = el("button", { type: "submit", "class": "gdprd-cw-btn" }, t.save);
    panel.appendChild(save);
    panel.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var choices = {};
      cfg.purposes.forEach(function (pp) { choices[pp.slug] = panel.elements[pp.slug].checked; });
      send("save", choices);
    });

    var actions = el("div", { "class": "gdprd-cw-actions" });
    var pair = el("div", { "class": "gdprd-cw-pair" });
    var accept = el("button", { type: "button", "class": "gdprd-cw-btn", "data-action": "accept-all" }, t.accept_all);
    var reject = el("button", { type: "button", "class": "gdprd-cw-btn", "data-action": "reject-all" }, t.reject_all);
    var choose = el("button", { type: "button", "class": "gdprd-cw-link", "aria-expanded": "false", "aria-controls": "gdprd-cw-panel" }, t.choose);
    accept.addEventListener("click", function () { send("accept-all", null); });
    reject.addEventListener("click", function () { send("reject-all", null); });
    choose.addEventListener("click", function () {
      panel.hidden = !panel.hidden;
      choose.setAttribute("aria-expanded", String(!panel.hidden));
      if (!panel.hidden) { panel.querySelector("input").focus(); }
    });
    pair.appendChild(accept);
    pair.appendChild(reject);
    actions.appendChild(pair);
    actions.appendChild(choose);
    root.appendChild(actions);
    root.appendChild(panel);
    root.appendChild(el("p", { "class": "gdprd-cw-status", role: "status" }));
    document.body.insertBefore(root, document.body.firstChild);
    if (reopened) { accept.focus(); }
  }

  function send(action, choices) {
    var body = { site: site, action: action, notices: shownNotices(), gpc: gpcOn() };
    if (choices) { body.choices = choices; }
    if (stored && stored.visitor) { body.visitor = stored.visitor; }
    fetch(base + "/widget/choices", {
      method: "POST", credentials: "omit",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) { throw new Error(j.detail || j.title); } return j; });
    }).then(function (res) {
      stored = { visitor: res.visitor, choices: res.choices, notices: res.notices, at: res.recorded_at };
      try { window.localStorage.setItem(KEY, JSON.stringify(stored)); } catch (e) { /* private mode: keep in memory */ }
      root.remove();
      root = null;
      reopenButton();
      announce();
    }).catch(function (e) {
      var status = root && root.querySelector(".gdprd-cw-status");
      if (status) { status.textContent = e.message; }
    });
  }

  // Withdrawing is as easy as granting: one button reopens the banner.
  function reopenButton() {
    var old = document.querySelector(".gdprd-cw-reopen");
    if (old) { old.remove(); }
    var b = el("button", { type: "button", "class": "gdprd-cw-reopen" }, cfg.texts.reopen);
    b.addEventListener("click", function () { b.remove(); show(true); });
    document.body.appendChild(b);
  }

  function announce() {
    document.dispatchEvent(new CustomEvent("gdprd:consent", { detail: { choices: stored.choices } }));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", load);
  } else {
    load();
  }
})();
