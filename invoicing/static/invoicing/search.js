/* The header's one-box search (templates/admin/base_site.html): as you type, the first matches from
   GET /api/v1/search (session auth) in a dropdown; arrows move, Enter opens the highlighted match or, with
   none highlighted, the full results page (the form's own submit). No library. */
(function () {
  "use strict";
  var form = document.getElementById("rc-search");
  if (!form) { return; }
  var input = document.getElementById("rc-search-input");
  var list = document.getElementById("rc-search-results");
  var api = form.getAttribute("data-api");
  var timer = null, sent = 0, active = -1, items = [];

  function close() {
    list.hidden = true; list.innerHTML = ""; items = []; active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }
  function mark(index) {
    items.forEach(function (li, i) { li.setAttribute("aria-selected", i === index ? "true" : "false"); });
    active = index;
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({ block: "nearest" });
    } else { input.removeAttribute("aria-activedescendant"); }
  }
  function note(text) {
    var li = document.createElement("li");
    li.className = "rc-search-note"; li.setAttribute("role", "presentation");
    li.innerHTML = text;
    list.appendChild(li);
  }
  function show(results, q) {
    list.innerHTML = ""; items = []; active = -1;
    results.forEach(function (r, i) {
      var li = document.createElement("li");
      li.id = "rc-search-option-" + i; li.setAttribute("role", "option"); li.setAttribute("aria-selected", "false");
      var a = document.createElement("a");
      a.href = r.url;
      var kind = document.createElement("span"); kind.className = "rc-search-kind";
      kind.textContent = r.type === "invoice" ? "Invoice" : "Customer";
      var label = document.createElement("span"); label.className = "rc-search-label"; label.textContent = r.label;
      var detail = document.createElement("small"); detail.textContent = r.detail || "";
      a.appendChild(kind); a.appendChild(label); a.appendChild(detail);
      li.appendChild(a); list.appendChild(li); items.push(li);
    });
    if (!results.length) { note("Nothing matches \u201c" + q.replace(/[<>&]/g, "") + "\u201d."); }
    note("<kbd>Enter</kbd> all results \u00b7 <kbd>\u2191</kbd><kbd>\u2193</kbd> choose \u00b7 <kbd>Esc</kbd> close");
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }
  function lookup() {
    var q = input.value.trim();
    if (!q) { close(); return; }
    var mine = ++sent;
    fetch(api + "?limit=6&q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { results: [] }; })
      .then(function (data) { if (mine === sent && input.value.trim() === q) { show(data.results || [], q); } })
      .catch(function () { /* the form still submits to the results page */ });
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(lookup, 120);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" && items.length) { event.preventDefault(); mark((active + 1) % items.length); }
    else if (event.key === "ArrowUp" && items.length) { event.preventDefault(); mark(active <= 0 ? items.length - 1 : active - 1); }
    else if (event.key === "Escape") { close(); }
    else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      window.location.href = items[active].querySelector("a").href;
    }
  });
  document.addEventListener("click", function (event) { if (!form.contains(event.target)) { close(); } });
  input.addEventListener("focus", function () { if (input.value.trim() && list.hidden) { lookup(); } });
})();
