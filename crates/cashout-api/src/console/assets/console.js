// Live refresh: a page whose <main> has data-refresh="N" (N > 0) reloads its <main> every N
// seconds, unless the operator is typing or the tab is hidden. No framework, no build step.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main) return;
  var secs = parseInt(main.getAttribute("data-refresh") || "0", 10);
  if (!(secs > 0)) return;
  function busy() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA");
  }
  setInterval(function () {
    if (document.hidden || busy()) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (text) {
        if (!text) return;
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("main");
        if (fresh && !busy()) {
          var flash = main.querySelector(".flash");
          main.innerHTML = fresh.innerHTML;
          if (flash && !main.querySelector(".flash")) main.insertBefore(flash, main.firstChild);
        }
      })
      .catch(function () {});
  }, secs * 1000);
})();
