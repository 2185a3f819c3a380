// Charter console: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // "Go back" links on error pages.
  document.querySelectorAll("a[data-back]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (window.history.length > 1) { event.preventDefault(); window.history.back(); }
    });
  });

  // Forms that ask before doing something drastic (data-confirm="question").
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // Filter forms: changing a select submits at once (the button stays for keyboards).
  document.querySelectorAll("form.filters select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });

  // The map: clicking or focusing an edge shows its reason in the detail panel.
  var detail = document.getElementById("edge-detail");
  if (detail) {
    var show = function (edge) {
      document.querySelectorAll("svg.map .edge.selected").forEach(function (e) { e.classList.remove("selected"); });
      edge.classList.add("selected");
      detail.textContent = "";
      var strong = document.createElement("strong");
      strong.textContent = edge.getAttribute("data-from") + " → " + edge.getAttribute("data-to");
      detail.appendChild(strong);
      var reason = document.createElement("div");
      reason.textContent = edge.getAttribute("data-reason") || "";
      detail.appendChild(reason);
    };
    document.querySelectorAll("svg.map .edge").forEach(function (edge) {
      edge.addEventListener("click", function () { show(edge); });
      edge.addEventListener("focus", function () { show(edge); });
      edge.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); show(edge); }
      });
    });
  }

  // Keyboard: "/" focuses the page's search box.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) { return; }
    var search = document.querySelector("input[type=search]");
    if (search) { event.preventDefault(); search.focus(); }
  });
})();
