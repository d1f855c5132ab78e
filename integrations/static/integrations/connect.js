/*
 * Sealed Integrations: connect an account from a single-page app, in a popup.
 *
 * No build step: serve this file (it is a static file of the `integrations`
 * app) or copy it, load it with <script src=".../integrations/connect.js">,
 * then:
 *
 *   // Your back end asks POST /api/connect-sessions/ with
 *   // {"provider": "github", "mode": "popup", "origin": "https://app.example.com"}
 *   // and gives the page the `url` of the answer.
 *   SealedIntegrations.connect(url).then(function (result) {
 *     // result.outcome: "connected" | "denied" | "failed"
 *     // result.integration_id (OAuth providers) or result.credential_id (API key,
 *     // basic, bearer), result.error (a code when not connected), result.provider,
 *     // result.connect_session_id. Never a token.
 *   }, function (error) {
 *     // error.message: "popup_blocked" or "closed" (the user closed the window).
 *   });
 *
 * Call connect() from a click handler, or the browser blocks the popup. The
 * result is accepted only from the popup itself (event.source) and only from
 * the origin of `url` (event.origin): any other message is ignored.
 */
(function (root) {
  "use strict";

  var MESSAGE_TYPE = "sealed-integrations:connect";

  function connect(url, options) {
    options = options || {};
    return new Promise(function (resolve, reject) {
      var serverOrigin = new URL(url, root.location.href).origin;
      var width = options.width || 600;
      var height = options.height || 700;
      var left = Math.max(0, (root.screenX || 0) + ((root.outerWidth || width) - width) / 2);
      var top = Math.max(0, (root.screenY || 0) + ((root.outerHeight || height) - height) / 2);
      var features = "popup=yes,width=" + width + ",height=" + height +
        ",left=" + Math.round(left) + ",top=" + Math.round(top);
      var popup = root.open(url, options.name || "sealed-integrations-connect", features);
      if (!popup) {
        reject(new Error("popup_blocked"));
        return;
      }
      var settled = false;
      var timer = null;

      function settle() {
        settled = true;
        root.removeEventListener("message", onMessage);
        if (timer !== null) {
          root.clearInterval(timer);
        }
      }

      function onMessage(event) {
        if (settled || event.origin !== serverOrigin || event.source !== popup) {
          return;
        }
        var data = event.data;
        if (!data || typeof data !== "object" || data.type !== MESSAGE_TYPE) {
          return;
        }
        settle();
        try {
          popup.close();
        } catch (error) {
          // the popup closes itself anyway
        }
        resolve({
          outcome: String(data.outcome || "failed"),
          integration_id: String(data.integration_id || ""),
          credential_id: String(data.credential_id || ""),
          error: String(data.error || ""),
          provider: String(data.provider || ""),
          connect_session_id: String(data.connect_session_id || "")
        });
      }

      root.addEventListener("message", onMessage);
      timer = root.setInterval(function () {
        if (settled || !popup.closed) {
          return;
        }
        root.clearInterval(timer);
        timer = null;
        // A result posted just before the popup closed is still in the queue.
        root.setTimeout(function () {
          if (!settled) {
            settle();
            reject(new Error("closed"));
          }
        }, 500);
      }, 500);
    });
  }

  root.SealedIntegrations = root.SealedIntegrations || {};
  root.SealedIntegrations.connect = connect;
})(window);
