/*
 * The demo's "single-page app" (templates/demo_spa.html): on Connect, get a
 * short-lived API token from the site (as an app's back end would hand its front
 * end one), create a popup connect session with fetch, revoke the token, and open
 * the one-time URL with SealedIntegrations.connect(). The token is kept in a local
 * variable only: never written to the page, the URL or storage.
 */
(function () {
  "use strict";

  function postJSON(url, body, headers) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: Object.assign({"Content-Type": "application/json"}, headers),
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = text ? JSON.parse(text) : {};
        if (!response.ok) {
          var error = new Error("HTTP " + response.status);
          error.body = data;
          throw error;
        }
        return data;
      });
    });
  }

  function show(value) {
    document.getElementById("spa-result").textContent = JSON.stringify(value, null, 2);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("spa");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
      var provider = form.querySelector("[name=provider]").value;
      show({status: "creating a connect session…"});
      postJSON(form.dataset.tokenUrl, {}, {"X-CSRFToken": csrf}).then(function (issued) {
        var auth = {"Authorization": "Token " + issued.token};
        return postJSON(form.dataset.sessionsUrl, {
          provider: provider, mode: "popup", origin: form.dataset.origin,
          metadata: {demo: "single-page app"},
        }, auth).then(function (session) {
          // The token did its job: revoke it (a finished connect session needs none).
          return postJSON(form.dataset.logoutUrl, {}, auth).then(function () {
            return session;
          });
        });
      }).then(function (session) {
        show({status: "waiting for the popup…", connect_session_id: session.id});
        return SealedIntegrations.connect(session.url);
      }).then(show, function (error) {
        show({error: error.message, detail: error.body || null});
      });
    });
    form.setAttribute("data-ready", "");  // a click now runs the script, not a plain POST
  });
})(this);
