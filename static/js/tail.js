// Live tail: the server pushes new rows into #tail-rows (htmx ws extension, hx-swap-oob="afterbegin").
// This adds what htmx does not: pause (rows are held in #tail-held and counted), stop/start, a filter
// over the rows shown, no duplicates after a reconnect, and a cap on the rows the page keeps.
(function () {
  var root = document.getElementById("tail");
  if (!root) return;
  var MAX_ROWS = parseInt(root.dataset.maxRows, 10) || 1000;
  var rows = document.getElementById("tail-rows");
  var held = document.getElementById("tail-held");
  var pauseBtn = document.getElementById("tail-pause");
  var stopBtn = document.getElementById("tail-stop");
  var filter = document.getElementById("tail-filter");
  var counts = document.getElementById("tail-counts");
  var empty = document.getElementById("tail-empty");
  var paused = false;
  var socketElt = null; // the detached #live-socket while stopped

  function matches(tr) {
    var q = filter.value.trim().toLowerCase();
    return !q || tr.classList.contains("tail-skip") || tr.textContent.toLowerCase().indexOf(q) >= 0;
  }

  function applyFilter(list) {
    for (var i = 0; i < list.length; i++) list[i].hidden = !matches(list[i]);
  }

  function trim(tbody) {
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1); // the oldest are at the bottom
  }

  function update() {
    var total = rows.rows.length, shown = 0;
    for (var i = 0; i < total; i++) if (!rows.rows[i].hidden) shown++;
    var parts = [];
    parts.push(filter.value.trim() ? shown + " of " + total + " rows match" : total + " row" + (total === 1 ? "" : "s"));
    if (held.rows.length) parts.push(held.rows.length + " new held while paused");
    if (socketElt) parts.push("stopped");
    counts.textContent = parts.join(" · ");
    empty.hidden = total > 0 || held.rows.length > 0;
    pauseBtn.textContent = paused ? (held.rows.length ? "Resume (" + held.rows.length + " new)" : "Resume") : "Pause";
    pauseBtn.setAttribute("aria-pressed", paused ? "true" : "false");
    pauseBtn.disabled = !!socketElt && !paused;
  }

  // Before a push is inserted: drop rows the page already has (a reconnect re-sends the last
  // few), and while paused insert into the hidden #tail-held instead.
  document.addEventListener("htmx:oobBeforeSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "tail-rows") return;
    var incoming = e.detail.fragment.querySelectorAll("tr[data-pos]");
    for (var i = 0; i < incoming.length; i++) {
      var pos = incoming[i].getAttribute("data-pos");
      if (root.querySelector('tr[data-pos="' + pos + '"]')) incoming[i].remove();
      else incoming[i].classList.add("fresh");
    }
    if (paused) e.detail.target = held;
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    applyFilter(rows.rows);
    trim(rows);
    trim(held);
    update();
    setTimeout(function () {
      var fresh = root.querySelectorAll("tr.fresh");
      for (var i = 0; i < fresh.length; i++) fresh[i].classList.remove("fresh");
    }, 1600);
  });

  function resume() {
    while (held.lastElementChild) rows.insertBefore(held.lastElementChild, rows.firstChild);
    applyFilter(rows.rows);
    trim(rows);
  }

  pauseBtn.addEventListener("click", function () {
    paused = !paused;
    if (!paused) resume();
    update();
  });

  // Stop closes the websocket (the rows stay); Start opens a fresh one, which re-sends the last
  // few records (duplicates are dropped above) and then every new one.
  stopBtn.addEventListener("click", function () {
    if (!socketElt) {
      socketElt = document.getElementById("live-socket");
      if (!socketElt) return;
      htmx.trigger(socketElt, "htmx:beforeCleanupElement"); // the ws extension closes the socket
      socketElt.remove();
      stopBtn.textContent = "Start";
      stopBtn.setAttribute("aria-pressed", "true");
      var status = document.getElementById("live-status"); // console.js shows open/closed; this says why
      var label = status && status.querySelector(".label");
      if (label) { status.dataset.state = "closed"; label.textContent = "stopped"; }
      update();
    } else {
      var fresh = socketElt.cloneNode(false);
      socketElt = null;
      document.body.insertBefore(fresh, document.body.querySelector("main"));
      htmx.process(fresh);
      stopBtn.textContent = "Stop";
      stopBtn.setAttribute("aria-pressed", "false");
      update();
    }
  });

  document.getElementById("tail-clear").addEventListener("click", function () {
    rows.replaceChildren();
    held.replaceChildren();
    update();
  });

  filter.addEventListener("input", function () {
    applyFilter(rows.rows);
    update();
  });

  update();
})();
