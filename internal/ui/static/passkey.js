// passkey.js: the browser half of passkeys (WebAuthn) in the console.
// A form marked data-passkey="create" or "get" stays hidden without
// JavaScript (the page says passkeys need it; the TOTP code works
// without). With it, submitting the form fetches the ceremony's options
// from data-options (JSON from the server), calls
// navigator.credentials.create or .get with them, puts the resulting
// credential as JSON in the form's "credential" field and posts the form.
(function () {
  "use strict";

  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toB64u(buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) { s += String.fromCharCode(b[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function ids(list) {
    (list || []).forEach(function (c) { c.id = toBuf(c.id); });
  }

  function decode(kind, o) {
    var p = o.publicKey;
    p.challenge = toBuf(p.challenge);
    if (kind === "create") {
      p.user.id = toBuf(p.user.id);
      ids(p.excludeCredentials);
    } else {
      ids(p.allowCredentials);
    }
    return { publicKey: p };
  }

  function encode(c) {
    var r = c.response;
    var out = { id: c.id, rawId: toB64u(c.rawId), type: c.type, response: { clientDataJSON: toB64u(r.clientDataJSON) } };
    if (r.attestationObject) {
      out.response.attestationObject = toB64u(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64u(r.userHandle); }
    }
    out.clientExtensionResults = c.getClientExtensionResults ? c.getClientExtensionResults() : {};
    if (c.authenticatorAttachment) { out.authenticatorAttachment = c.authenticatorAttachment; }
    return JSON.stringify(out);
  }

  function setup(form) {
    var kind = form.getAttribute("data-passkey");
    var status = form.querySelector("[data-passkey-status]");
    form.hidden = false;
    var note = document.querySelectorAll("[data-passkey-nojs]");
    for (var i = 0; i < note.length; i++) { note[i].hidden = true; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (status) { status.textContent = ""; }
      fetch(form.getAttribute("data-options"), { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (res) {
          var type = res.headers.get("Content-Type") || "";
          if (!res.ok || type.indexOf("application/json") !== 0) { throw new Error("options " + res.status); }
          return res.json();
        })
        .then(function (o) {
          var opts = decode(kind, o);
          return kind === "create" ? navigator.credentials.create(opts) : navigator.credentials.get(opts);
        })
        .then(function (c) {
          form.querySelector("input[name=credential]").value = encode(c);
          form.submit();
        })
        .catch(function () {
          if (status) { status.textContent = form.getAttribute("data-failed"); }
        });
    });
  }

  function start() {
    if (!window.PublicKeyCredential || !window.fetch) { return; }
    var forms = document.querySelectorAll("form[data-passkey]");
    for (var i = 0; i < forms.length; i++) { setup(forms[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
