// What a person sees when an htmx request gets no proper answer.
//
// Without this, a click whose request never reached Hypha (offline, the connection dropped) did nothing
// visible, and a server error's body (a proxy's "502 Bad Gateway" page, or Hypha's one-line error) was
// swapped in place of the part of the page that held the form, so the form itself was gone. Now a 5xx
// answer is not swapped, and either failure puts a message (role=alert, spoken at once) right after the
// form or control that sent the request, which stays as it was: pressing it again sends the same request
// (the money forms carry their idempotency key, so a retry never charges twice). The message goes away
// when that control's next request is answered.
//
// A part of the page that loads itself (hx-trigger="load…": the balance in the header, the dashboard's
// tiles, the account page's lists, a video's favourite and membership parts) has no control to press
// again: when its request fails, its placeholder ("Loading…") goes, and a short message takes its place
// with a "Try again" button that sends the same request; in the header the message stays one line.
(function () {
  "use strict";

  var OFFLINE = "We could not reach Hypha: check your connection, then try again.";
  var PART_OFFLINE = "This part did not load: no connection.";

  function serverError(status) {
    return "Something went wrong on our side (error " + status + "). Please try again in a moment.";
  }

  function partError(status) {
    return "This part did not load (error " + status + ").";
  }

  // Whether the element is a part that loads itself, and so has no control of its own to press again.
  function loadsItself(element) {
    var trigger = (element && element.getAttribute && element.getAttribute("hx-trigger")) || "";
    return /^\s*load\b/.test(trigger) && !!element.getAttribute("hx-get");
  }

  // The form, or else the control, that sent the request: the message goes after it.
  function anchor(element) {
    if (!element || !element.isConnected) return null;
    return (element.closest && element.closest("form")) || element;
  }

  function clear(element) {
    var after = anchor(element);
    var next = after && after.nextElementSibling;
    if (next && next.classList.contains("request-error")) next.remove();
    if (after && after.hasAttribute("data-load-failed")) after.removeAttribute("data-load-failed");
  }

  function show(element, text, retry) {
    var after = anchor(element);
    if (!after) return;
    var hadFocus = after.nextElementSibling && after.nextElementSibling.contains(document.activeElement);
    clear(element);
    var message = document.createElement("div");
    message.className = "flash flash-error request-error";
    message.setAttribute("role", "alert");
    message.setAttribute("data-testid", "request-error");
    message.textContent = text;
    if (retry) {
      after.setAttribute("data-load-failed", "");
      var again = document.createElement("button");
      again.type = "button";
      again.className = "btn btn-secondary btn-sm";
      again.setAttribute("data-testid", "load-again");
      again.textContent = "Try again";
      again.addEventListener("click", function () {
        again.disabled = true;
        var parent = after.parentElement;
        var before = after.previousElementSibling;
        window.htmx
          .ajax("GET", after.getAttribute("hx-get"), { source: after, target: after, swap: "outerHTML" })
          .then(function () {
            // Loaded: the button went with the message; the focus goes to what came in its place.
            var active = document.activeElement;
            if (active && active !== document.body && active.isConnected) return;
            var loaded = before ? before.nextElementSibling : parent && parent.firstElementChild;
            if (!loaded || loaded.hasAttribute("data-load-failed")) return;
            if (!loaded.matches("a[href], button, input, select, textarea, [tabindex]")) {
              loaded.setAttribute("tabindex", "-1");
            }
            loaded.focus();
          });
      });
      message.appendChild(document.createTextNode(" "));
      message.appendChild(again);
    }
    after.insertAdjacentElement("afterend", message);
    if (hadFocus && again) again.focus(); // pressed and failed again: the focus stays on the button
  }

  // The element that sent the request (beforeSwap fires on the swap's target, and its `elt` is that too).
  function sender(event) {
    var detail = event.detail;
    return (detail.requestConfig && detail.requestConfig.elt) || detail.elt || event.target;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    var element = sender(event);
    if (status >= 500) {
      detail.shouldSwap = false;
      if (loadsItself(element)) show(element, partError(status), true);
      else show(element, serverError(status));
    } else {
      clear(element);
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    var element = sender(event);
    if (loadsItself(element)) show(element, PART_OFFLINE, true);
    else show(element, OFFLINE);
  });
})();
