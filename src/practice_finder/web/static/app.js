// Progressive enhancement of the search page: when a filter changes, fetch the results for the new
// filters and swap them in (the page works without this: the form is a plain GET form).
(function () {
  "use strict";
  var form = document.getElementById("search");
  var results = document.getElementById("results");
  if (!form || !results || !window.fetch) return;
  var pending = null;

  function query() {
    var params = new URLSearchParams(new FormData(form));
    return params;
  }

  function refresh() {
    var params = query();
    if (!params.get("q")) return;
    var url = "/?" + params.toString();
    if (pending) pending.abort();
    pending = new AbortController();
    document.body.classList.add("loading");
    params.set("partial", "1");
    fetch("/?" + params.toString(), { signal: pending.signal, headers: { "Accept": "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var focused = document.activeElement && document.activeElement.id;
        results.innerHTML = doc.getElementById("partial-results").innerHTML;
        form.querySelector(".filters").innerHTML = doc.getElementById("partial-filters").innerHTML;
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        history.replaceState(null, "", url);
      })
      .catch(function (err) {
        if (err.name !== "AbortError") { var alert = document.createElement("div"); alert.className = "alert"; alert.setAttribute("role", "alert"); alert.textContent = form.dataset.error; results.prepend(alert); }
      })
      .finally(function () { document.body.classList.remove("loading"); });
  }

  form.addEventListener("change", function (event) {
    if (event.target && event.target.id !== "q") refresh();
  });
})();
