// "Copy link" buttons (the share_link macro): copy the link of the input the button names, and say so
// in the button's live region. Delegated from the document, so buttons swapped in by htmx work too.
(function () {
  "use strict";

  function announce(id, text) {
    const status = document.querySelector('[data-copy-status="' + CSS.escape(id) + '"]');
    if (!status) return;
    status.textContent = "";
    // A fresh text node in the live region is announced even when the same words come twice.
    window.setTimeout(function () { status.textContent = text; }, 30);
  }

  function fallbackCopy(input) {
    input.focus();
    input.select();
    try {
      return document.execCommand("copy");
    } catch (_error) {
      return false;
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element ? event.target.closest("[data-copy-link]") : null;
    if (!button) return;
    const id = button.getAttribute("data-copy-link");
    const input = document.getElementById(id);
    if (!input) return;
    const url = input.value;
    const what = button.getAttribute("data-copy-what") || "Link";
    const copied = function () { announce(id, what + " copied: " + url); };
    const manual = function () {
      if (fallbackCopy(input)) copied();
      else announce(id, "Press Ctrl+C (⌘C on a Mac) to copy the selected " + what.toLowerCase() + ".");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(copied, manual);
    } else {
      manual();
    }
  });
})();
