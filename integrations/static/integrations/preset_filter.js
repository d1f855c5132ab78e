/* Add from preset: filter the list as one types or picks a category.
   Progressive enhancement: without this script the form's GET parameters filter
   the list on the server, with the same rules (every word of the search in the
   preset's name, key, category, authentication or description). */
(function () {
  "use strict";
  function ready() {
    var form = document.getElementById("preset-filter");
    var list = document.getElementById("preset-list");
    if (!form || !list) { return; }
    var search = document.getElementById("preset-q");
    var category = document.getElementById("preset-category");
    var shown = document.getElementById("preset-shown");
    var empty = document.getElementById("preset-empty");
    var rows = Array.prototype.slice.call(list.querySelectorAll("tbody tr"));

    function apply() {
      var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var wanted = category.value;
      var count = 0;
      rows.forEach(function (row) {
        var text = row.getAttribute("data-search");
        var match = (!wanted || row.getAttribute("data-category") === wanted) &&
          terms.every(function (term) { return text.indexOf(term) !== -1; });
        row.hidden = !match;
        if (match) { count += 1; }
      });
      shown.textContent = String(count);
      empty.hidden = count !== 0;
      if (window.history && window.history.replaceState) {
        var params = new URLSearchParams();
        if (search.value.trim()) { params.set("q", search.value.trim()); }
        if (wanted) { params.set("category", wanted); }
        var query = params.toString();
        window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
      }
    }

    search.addEventListener("input", apply);
    category.addEventListener("change", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
    form.setAttribute("data-enhanced", "");  // filtering as one types from now on
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
