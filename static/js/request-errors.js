// What a person sees when an htmx request gets no proper answer.
//
// Without this, a click whose request never reached Hypha (offline, the connection dropped) did nothing
// visible, and a server error's body (a proxy's "502 Bad Gateway" page, or Hypha's one-line error) was
// swapped in place of the part of the page that held the form, so the form itself was gone. Now a 5xx
// answer is not swapped, and either failure puts a message (role=alert, spoken at once) right after the
// form or control that sent the request, which stays as it was: pressing it again sends the same request
// (the money forms carry their idempotency key, so a retry never charges twice). The message goes away
// when that control's next request is answered.
(function () {
  "use strict";

  var OFFLINE = "We could not reach Hypha: check your connection, then try again.";

  function serverError(status) {
    return "Something went wrong on our side (error " + status + "). Please try again in a moment.";
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
  }

  function show(element, text) {
    var after = anchor(element);
    if (!after) return;
    clear(element);
    var message = document.createElement("div");
    message.className = "flash flash-error request-error";
    message.setAttribute("role", "alert");
    message.setAttribute("data-testid", "request-error");
    message.textContent = text;
    after.insertAdjacentElement("afterend", message);
  }

  // The element that sent the request (beforeSwap fires on the swap's target, and its `elt` is that too).
  function sender(event) {
    var detail = event.detail;
    return (detail.requestConfig && detail.requestConfig.elt) || detail.elt || event.target;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    if (status >= 500) {
      detail.shouldSwap = false;
      show(sender(event), serverError(status));
    } else {
      clear(sender(event));
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    show(sender(event), OFFLINE);
  });
})();
