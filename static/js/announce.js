// Live announcements for screen readers, polite and not chatty.
//
// Tiles that change by themselves (htmx swaps them from the page's event stream) say what a listener
// should hear in `data-announce` ("“Harbour lights”: ready", "New tip: 10 points from Sam"). When an
// element with an id and a data-announce comes onto the page in place of one with the same id and its
// text differs, the text is spoken through the page's one live region (#announcer, role=status,
// aria-live=polite). The text only changes on events worth hearing — a sale, a tip, a video's new
// state — so a progress bar moving every second, a viewer count or a re-send of the same tile says
// nothing. An element's first appearance (the page, a strip loaded later) is not news either. An
// optional `data-announce-key` (say, the newest tip's id) decides instead of the text when two pieces
// of news may read the same.
// Scripts may call window.hyphaAnnounce(text) for their own news (an upload finished).
(function () {
  "use strict";

  var heard = new Map(); // element id → the last text known for it
  var pending = [];
  var timer = null;

  function region() {
    return document.getElementById("announcer");
  }

  function flush() {
    timer = null;
    var live = region();
    if (!live || pending.length === 0) return;
    var text = pending.join(" ");
    pending = [];
    // Emptied first, so the same sentence twice in a row is spoken twice.
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function announce(text) {
    if (!text) return;
    pending.push(text);
    if (timer === null) timer = window.setTimeout(flush, 150);
  }

  function visit(element, speak) {
    var found = element.matches && element.matches("[data-announce][id]") ? [element] : [];
    if (element.querySelectorAll) {
      found = found.concat(Array.prototype.slice.call(element.querySelectorAll("[data-announce][id]")));
    }
    found.forEach(function (node) {
      var text = node.getAttribute("data-announce");
      var key = node.hasAttribute("data-announce-key") ? node.getAttribute("data-announce-key") : text;
      var before = heard.get(node.id);
      heard.set(node.id, key);
      if (speak && before !== undefined && before !== key) announce(text);
    });
  }

  function start() {
    visit(document.body, false);
    new MutationObserver(function (mutations) {
      mutations.forEach(function (mutation) {
        mutation.addedNodes.forEach(function (node) {
          if (node.nodeType === Node.ELEMENT_NODE) visit(node, true);
        });
        if (mutation.type === "attributes" && mutation.target.nodeType === Node.ELEMENT_NODE) {
          visit(mutation.target, true);
        }
      });
    }).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-announce"] });
  }

  window.hyphaAnnounce = announce;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
