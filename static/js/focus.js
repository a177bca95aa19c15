// Keyboard focus through htmx swaps.
//
// A control pressed from the keyboard (Rent, a tip amount, a pack) is often inside what its answer
// replaces; the browser then drops the focus on <body>, a screen reader says nothing of what happened and
// the next Tab starts from wherever the old control was. When the focus was inside the element an answer
// replaces and is lost after the swap, it goes to the first field to correct (a form sent back with
// errors), else to what the answer says happened — its first alert or status message ("Unlocked. Enjoy
// the video!", "Thank you! …", an error) — else its first heading, else the element itself. A focus the page put somewhere on purpose (autofocus, a kept input) is left alone.
(function () {
  "use strict";

  var swapped = null; // {xhr, place, id}: the request whose answer replaces the element holding the focus

  function holdsFocus(element) {
    var active = document.activeElement;
    return !!element && !!active && active !== document.body && (element === active || element.contains(active));
  }

  function focusable(element) {
    return element.matches("a[href], button, input, select, textarea, [tabindex]");
  }

  // Before the request: htmx disables the form's controls (hx-disabled-elt) right after this event, and a
  // disabled control loses the focus.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var detail = event.detail;
    if (holdsFocus(detail.target) || holdsFocus(detail.elt)) {
      swapped = { xhr: detail.xhr, place: detail.target, id: detail.target.id };
    }
  });

  // No answer to swap (offline): nothing to move.
  document.addEventListener("htmx:sendError", function () {
    swapped = null;
  });

  // A form that is a whole page (no htmx: deleting the account, a bundle, a promo code, a tier) comes back
  // as a new page with its errors: the focus goes to the first field to correct, as after a swap, rather
  // than staying at the top of the page with nothing said.
  document.addEventListener("DOMContentLoaded", function () {
    var active = document.activeElement;
    if (active && active !== document.body) return;
    var invalid = document.querySelector("main [aria-invalid=true]");
    if (invalid) invalid.focus();
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    // Only this request's answer: another one (a panel loading by itself) may settle in between.
    if (!swapped || event.detail.xhr !== swapped.xhr) return;
    var lost = swapped;
    swapped = null;
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    var place = lost.place.isConnected ? lost.place : lost.id && document.getElementById(lost.id);
    if (!place) return;
    var to =
      place.querySelector("[aria-invalid=true]") ||
      place.querySelector("[role=alert], [role=status]") ||
      place.querySelector("h1, h2, h3, h4") ||
      place;
    if (!focusable(to)) to.setAttribute("tabindex", "-1");
    to.focus();
  });
})();
