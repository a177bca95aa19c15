// Live sinks (an sse-swap element with hx-swap="none") only carry out-of-band fragments, each replacing
// the element of the same id. A fragment whose element is not on this page (a video on another studio
// page, a tile strip still loading) is dropped quietly instead of htmx logging oobErrorNoTarget.
(function () {
  "use strict";

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    const sink = event.target;
    if (!(sink instanceof Element) || sink.getAttribute("hx-swap") !== "none") return;
    const template = document.createElement("template");
    template.innerHTML = event.detail.data;
    const fragments = Array.from(template.content.children);
    const present = fragments.filter(function (fragment) {
      return !fragment.hasAttribute("hx-swap-oob") || !fragment.id || document.getElementById(fragment.id);
    });
    if (present.length === fragments.length) return; // every target is here: htmx swaps as usual
    event.preventDefault();
    if (present.length === 0) return;
    const html = present.map(function (fragment) { return fragment.outerHTML; }).join("");
    htmx.swap(sink, html, { swapStyle: "none" });
  });
})();
