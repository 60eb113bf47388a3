// coachbot hub: the few behaviours htmx does not cover. No inline handlers (the CSP forbids
// them); everything is wired here by data attributes.
(function () {
  "use strict";
  var csrf = function () { return document.body.getAttribute("data-csrf") || ""; };

  // Drag-and-drop (or picked) files → one multipart POST with upload progress; the document
  // list then polls its own status through htmx.
  function setupDropzone(zone) {
    var input = zone.querySelector("input[type=file]");
    var bar = zone.querySelector(".progress > span");
    var status = zone.querySelector("[data-status]");
    function send(files) {
      if (!files || !files.length) return;
      var data = new FormData();
      for (var i = 0; i < files.length; i++) data.append("files", files[i], files[i].name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", zone.getAttribute("data-upload"));
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable && bar) bar.style.width = Math.round(100 * e.loaded / e.total) + "%";
      });
      xhr.addEventListener("load", function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (status) status.textContent = body.message || (xhr.status < 300 ? "Uploaded." : "Upload failed.");
        if (bar) bar.style.width = "0%";
        document.body.dispatchEvent(new Event("documents-changed"));
      });
      xhr.addEventListener("error", function () { if (status) status.textContent = "Upload failed: the server could not be reached."; });
      if (status) status.textContent = "Uploading " + files.length + " file(s)…";
      xhr.send(data);
    }
    ["dragenter", "dragover"].forEach(function (n) {
      zone.addEventListener(n, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (n) {
      zone.addEventListener(n, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) { send(e.dataTransfer.files); });
    if (input) input.addEventListener("change", function () { send(input.files); input.value = ""; });
  }

  // Copy buttons: data-copy="#id of the element whose text is copied".
  function setupCopy(button) {
    button.addEventListener("click", function () {
      var target = document.querySelector(button.getAttribute("data-copy"));
      if (!target || !navigator.clipboard) return;
      navigator.clipboard.writeText(target.textContent).then(function () {
        var old = button.textContent; button.textContent = "Copied"; setTimeout(function () { button.textContent = old; }, 1500);
      });
    });
  }

  // The widget preview follows the appearance form as the coach types.
  function setupPreview(form) {
    var preview = document.querySelector(form.getAttribute("data-preview"));
    if (!preview) return;
    function update() {
      var get = function (n) { var el = form.elements.namedItem(n); return el ? el.value : ""; };
      preview.style.setProperty("--accent", get("color") || "#2563eb");
      var name = preview.querySelector("[data-name]"); if (name) name.textContent = get("name") || name.getAttribute("data-default");
      var greet = preview.querySelector("[data-greeting]"); if (greet) greet.textContent = get("greeting") || greet.getAttribute("data-default");
      preview.classList.toggle("left", get("position") === "left");
    }
    form.addEventListener("input", update);
    update();
  }

  // Keep a chat pane scrolled to its newest line after htmx swaps it.
  function scrollChats() {
    document.querySelectorAll(".chat").forEach(function (c) { c.scrollTop = c.scrollHeight; });
  }

  // Confirmation for destructive buttons: data-confirm="question".
  document.addEventListener("submit", function (e) {
    var q = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (q && !window.confirm(q)) e.preventDefault();
  }, true);

  function init(root) {
    root.querySelectorAll("[data-upload]").forEach(setupDropzone);
    root.querySelectorAll("[data-copy]").forEach(setupCopy);
    root.querySelectorAll("form[data-preview]").forEach(setupPreview);
    scrollChats();
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", scrollChats);
})();
