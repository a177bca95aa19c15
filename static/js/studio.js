/* The studio's upload panel: sends the chosen file to /uploads/ with tus (resumable), shows its
 * progress, and then lets the video's live tile (htmx SSE) take over.
 *
 * The panel is swapped in by htmx, so everything hangs off `document` (event delegation).
 * An interrupted upload resumes: choosing the same file for the same video again finds the
 * upload it started (tus-js-client keeps its URL in localStorage under our fingerprint) and asks
 * the server how far it got.
 */
(function () {
  "use strict";

  var CHUNK_SIZE = 16 * 1024 * 1024;
  var active = null; // the upload in progress, if any

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return headers["x-csrftoken"] || "";
    } catch (e) {
      return "";
    }
  }

  function part(form, role) {
    return form.querySelector('[data-role="' + role + '"]');
  }

  function formatBytes(n) {
    var units = ["bytes", "KB", "MB", "GB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function showError(form, message) {
    var box = part(form, "error");
    box.textContent = message;
    box.hidden = false;
  }

  // The bar is a progressbar: assistive technology reads its value when asked, and the page's live
  // region announces only the end (not every tick).
  function setMeter(form, percent, text) {
    var meter = part(form, "meter");
    meter.setAttribute("aria-valuenow", String(percent));
    meter.setAttribute("aria-valuetext", text);
  }

  function setProgress(form, sent, total) {
    var percent = total ? Math.floor((sent / total) * 100) : 0;
    var status = "Uploading… " + formatBytes(sent) + " of " + formatBytes(total);
    part(form, "progress").hidden = false;
    part(form, "bar").style.width = percent + "%";
    part(form, "percent").textContent = percent + "%";
    part(form, "status").textContent = status;
    setMeter(form, percent, percent + "%, " + formatBytes(sent) + " of " + formatBytes(total) + " uploaded");
  }

  function say(text) {
    if (window.hyphaAnnounce) window.hyphaAnnounce(text);
  }

  function serverStatus(error) {
    var response = error && error.originalResponse;
    return response ? response.getStatus() : 0;
  }

  function serverMessage(error) {
    var response = error && error.originalResponse;
    var body = response ? response.getBody() : "";
    if (body && body.length < 300 && body.indexOf("<") === -1) return body;
    return "The upload stopped. Choose the same file again to continue where it left off.";
  }

  function start(form) {
    var input = form.querySelector('input[type="file"]');
    var file = input && input.files && input.files[0];
    part(form, "error").hidden = true;
    if (!file) {
      showError(form, "Choose a video file first.");
      return;
    }
    if (typeof tus === "undefined" || !tus.isSupported) {
      showError(form, "This browser cannot upload here. Try a current version of Firefox, Chrome or Safari.");
      return;
    }
    var video = form.getAttribute("data-video");
    var startButton = part(form, "start");
    var pauseButton = part(form, "pause");

    var upload = new tus.Upload(file, {
      endpoint: form.getAttribute("data-tus-endpoint"),
      chunkSize: CHUNK_SIZE,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      headers: { "x-csrftoken": csrfToken() },
      metadata: { video: video, filename: file.name, filetype: file.type || "" },
      removeFingerprintOnSuccess: true,
      // One fingerprint per video and file, so the same file sent to two videos never mixes.
      fingerprint: function (f) {
        return Promise.resolve(["hypha", video, f.name, f.type, f.size, f.lastModified].join("/"));
      },
      onShouldRetry: function (error) {
        var status = serverStatus(error);
        return !(status === 401 || status === 403 || status === 404 || status === 413 || status === 400);
      },
      onProgress: function (sent, total) {
        setProgress(form, sent, total);
      },
      onSuccess: function () {
        active = null;
        part(form, "bar").style.width = "100%";
        part(form, "bar").classList.add("is-done");
        part(form, "percent").textContent = "100%";
        setMeter(form, 100, "100%, uploaded");
        part(form, "status").textContent = "Uploaded. The tile below shows what happens next.";
        // The file is checked when its last bytes arrive; a refused one (not a video, too long …) has its
        // tile say so, and "Upload complete" spoken beside that read as a success. So the end is spoken
        // once the tile has left "uploading" (its news comes by the page's stream, about when this
        // answer does), and only if the file was not refused.
        var panel = form.closest("[data-video-id]");
        var tileId = panel && "video-" + panel.getAttribute("data-video-id");
        var waited = 0;
        (function whenTileMoves() {
          var tile = tileId && document.getElementById(tileId);
          var state = tile ? tile.getAttribute("data-state") : "";
          if (state === "uploading" && waited < 3000) {
            waited += 100;
            window.setTimeout(whenTileMoves, 100);
          } else if (state === "rejected" || state === "failed") {
            part(form, "status").textContent = "Uploaded, but refused: the tile below says why.";
          } else {
            say("Upload complete. The video's tile shows what happens next.");
          }
        })();
        pauseButton.hidden = true;
        startButton.hidden = true;
        input.disabled = true;
        form.setAttribute("data-uploaded", "true");
      },
      onError: function (error) {
        active = null;
        part(form, "bar").classList.add("is-error");
        showError(form, serverMessage(error));
        startButton.disabled = false;
        startButton.textContent = "Try again";
        pauseButton.hidden = true;
      },
    });

    active = upload;
    startButton.disabled = true;
    pauseButton.hidden = false;
    pauseButton.textContent = "Pause";
    part(form, "bar").classList.remove("is-error");
    setProgress(form, 0, file.size);
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
      }
      upload.start();
    });

    pauseButton.onclick = function () {
      if (active === upload) {
        upload.abort();
        active = null;
        pauseButton.textContent = "Resume";
        part(form, "status").textContent = "Paused.";
        setMeter(form, Number(part(form, "meter").getAttribute("aria-valuenow")), "Paused");
      } else {
        active = upload;
        pauseButton.textContent = "Pause";
        upload.start();
      }
    };
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "source-form") return;
    event.preventDefault();
    if (active) return;
    start(form);
  });

  window.addEventListener("beforeunload", function (event) {
    if (active) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
})();
