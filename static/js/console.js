// Small behaviours htmx does not cover: the live-connection badge and local time stamps.
(function () {
  function setStatus(state, text) {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.dataset.state = state;
    var label = el.querySelector(".label");
    if (label) label.textContent = text;
  }
  document.addEventListener("htmx:wsOpen", function () { setStatus("open", "live"); });
  document.addEventListener("htmx:wsClose", function () { setStatus("closed", "reconnecting"); });
  document.addEventListener("htmx:wsError", function () { setStatus("closed", "reconnecting"); });

  // Countdowns: <span data-deadline-ms="..."> shows seconds left until that moment.
  setInterval(function () {
    var now = Date.now();
    document.querySelectorAll("[data-deadline-ms]").forEach(function (el) {
      var left = (parseInt(el.dataset.deadlineMs, 10) - now) / 1000;
      el.textContent = left > 0 ? left.toFixed(1) + " s" : "now";
    });
  }, 200);
})();
