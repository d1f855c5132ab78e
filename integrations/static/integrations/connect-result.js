/*
 * Sealed Integrations: the last page of a connect session opened in popup mode.
 * It posts the result (read from data attributes, no inline script) to the
 * window that opened it, only to the exact origin the connect session named,
 * then closes itself. The result holds ids and an outcome, never a token.
 */
(function () {
  "use strict";
  var element = document.getElementById("connect-result");
  if (!element) {
    return;
  }
  var origin = element.getAttribute("data-origin");
  var result;
  try {
    result = JSON.parse(element.getAttribute("data-result"));
  } catch (error) {
    return;
  }
  if (window.opener && origin && origin !== "*") {
    window.opener.postMessage(result, origin);
    window.setTimeout(function () {
      window.close();
    }, 300);
  }
})();
