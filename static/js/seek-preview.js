/* Seek previews and chapters for Hypha's player (the markup is playback/_player.html).
 *
 * Under each <video class="hls-player"> a seek bar (an <input type="range">, so the keyboard and
 * screen readers work with it as with any slider) follows the video and seeks it. Hovering it, dragging
 * it or moving it with the keys shows the frame at that time — a region of a storyboard sprite, as the
 * thumbnails track (`data-thumbnails`, WebVTT cues `sprite.jpg#xywh=x,y,w,h`) names it — with the time
 * and the chapter's title. Chapters (`data-chapters`, a WebVTT chapters track) are marked on the bar
 * and named in the slider's value text. Links with `data-seek="<seconds>"` (the chapter list of the
 * video page; `?t=` without JavaScript) seek the player; `?t=` in the page address starts there.
 * The server decides which thumbnails a viewer gets (only the free preview's without access). */
(function () {
  "use strict";

  function seconds(stamp) {
    var parts = stamp.trim().split(":");
    var total = 0;
    for (var i = 0; i < parts.length; i++) total = total * 60 + parseFloat(parts[i]);
    return isFinite(total) ? total : NaN;
  }

  function clock(value) {
    var whole = Math.max(0, Math.floor(value || 0));
    var h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
    var ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + (m < 10 ? "0" : "") + m + ":" + ss : m + ":" + ss;
  }

  /* The cues of a WebVTT document: [{start, end, text}]. */
  function parseVtt(text) {
    var cues = [];
    var blocks = text.replace(/\r\n?/g, "\n").split(/\n\s*\n/);
    blocks.forEach(function (block) {
      var lines = block.split("\n").filter(function (line) { return line.trim() !== ""; });
      var at = -1;
      for (var i = 0; i < Math.min(lines.length, 2); i++) if (lines[i].indexOf("-->") >= 0) at = i;
      if (at < 0) return;
      var times = lines[at].split("-->");
      var start = seconds(times[0]), end = seconds(times[1].trim().split(/\s+/)[0]);
      if (isNaN(start) || isNaN(end)) return;
      cues.push({ start: start, end: end, text: lines.slice(at + 1).join("\n") });
    });
    return cues;
  }

  function load(url) {
    if (!url) return Promise.resolve([]);
    return fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(parseVtt)
      .catch(function () { return []; });
  }

  function thumbnails(cues, base) {
    var found = [];
    cues.forEach(function (cue) {
      var match = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(cue.text.trim());
      if (!match) return;
      found.push({
        start: cue.start, end: cue.end, url: new URL(match[1], base).href,
        x: +match[2], y: +match[3], w: +match[4], h: +match[5],
      });
    });
    return found;
  }

  function at(cues, time) {
    for (var i = 0; i < cues.length; i++) if (time >= cues[i].start && time < cues[i].end) return cues[i];
    return null;
  }

  function decodeText(text) {
    var holder = document.createElement("textarea");
    holder.innerHTML = text;
    return holder.value;
  }

  function setup(video) {
    if (video.dataset.seekReady) return;
    var bar = video.closest(".player") && video.closest(".player").nextElementSibling;
    if (!bar || !bar.matches("[data-seekbar]")) return;
    video.dataset.seekReady = "1";
    var range = bar.querySelector(".seek-range");
    var preview = bar.querySelector(".seek-preview");
    var thumb = bar.querySelector(".seek-thumb");
    var timeText = bar.querySelector(".seek-time");
    var chapterText = bar.querySelector(".seek-chapter");
    var marks = bar.querySelector(".seek-marks");
    var state = { thumbs: [], chapters: [], dragging: false };
    bar.hidden = false;

    function duration() {
      return isFinite(video.duration) && video.duration > 0 ? video.duration : parseFloat(range.max) || 0;
    }

    function chapterAt(time) {
      var cue = at(state.chapters, time);
      return cue ? decodeText(cue.text) : "";
    }

    function describe(time) {
      var chapter = chapterAt(time);
      range.setAttribute("aria-valuetext", clock(time) + " of " + clock(duration()) + (chapter ? ", " + chapter : ""));
    }

    function show(time, fraction) {
      var cue = at(state.thumbs, time);
      if (cue) {
        thumb.hidden = false;
        thumb.style.width = cue.w + "px";
        thumb.style.height = cue.h + "px";
        thumb.style.backgroundImage = 'url("' + cue.url + '")';
        thumb.style.backgroundPosition = -cue.x + "px " + -cue.y + "px";
      } else {
        thumb.hidden = true;
        thumb.style.backgroundImage = "";
      }
      timeText.textContent = clock(time);
      chapterText.textContent = chapterAt(time);
      preview.hidden = false;
      var width = preview.offsetWidth || 160;
      var left = fraction * bar.clientWidth - width / 2;
      preview.style.left = Math.max(0, Math.min(bar.clientWidth - width, left)) + "px";
    }

    function hide() {
      if (!state.dragging) preview.hidden = true;
    }

    function drawMarks() {
      marks.textContent = "";
      var total = duration();
      if (!total) return;
      state.chapters.forEach(function (cue) {
        if (cue.start <= 0 || cue.start >= total) return; // the bar spans the free preview only, in a preview
        var mark = document.createElement("span");
        mark.className = "seek-mark";
        mark.style.left = (100 * cue.start) / total + "%";
        marks.appendChild(mark);
      });
    }

    function fromPointer(event) {
      var rect = range.getBoundingClientRect();
      var fraction = Math.max(0, Math.min(1, (event.clientX - rect.left) / rect.width));
      return { time: fraction * duration(), fraction: fraction };
    }

    range.addEventListener("pointermove", function (event) {
      var where = fromPointer(event);
      show(where.time, where.fraction);
    });
    range.addEventListener("pointerleave", hide);
    range.addEventListener("pointerdown", function () { state.dragging = true; });
    document.addEventListener("pointerup", function () {
      if (state.dragging) {
        state.dragging = false;
        hide();
      }
    });
    range.addEventListener("input", function () {
      var time = parseFloat(range.value) || 0;
      video.currentTime = time;
      describe(time);
      show(time, duration() ? time / duration() : 0);
    });
    range.addEventListener("keyup", function () {
      window.clearTimeout(state.keyTimer);
      state.keyTimer = window.setTimeout(hide, 1500);
    });
    range.addEventListener("blur", hide);
    video.addEventListener("loadedmetadata", function () {
      range.max = String(Math.ceil(duration()));
      drawMarks();
    });
    video.addEventListener("timeupdate", function () {
      if (state.dragging || document.activeElement === range) return;
      range.value = String(Math.floor(video.currentTime));
      describe(video.currentTime);
    });

    load(video.dataset.thumbnails).then(function (cues) {
      state.thumbs = thumbnails(cues, new URL(video.dataset.thumbnails || "", window.location.href).href);
      bar.dataset.thumbnails = String(state.thumbs.length);
    });
    load(video.dataset.chapters).then(function (cues) {
      state.chapters = cues;
      bar.dataset.chapters = String(cues.length);
      drawMarks();
      describe(video.currentTime || 0);
    });

    var start = parseFloat(new URLSearchParams(window.location.search).get("t") || "");
    if (start > 0) seekTo(video, start, false);
  }

  function seekTo(video, time, play) {
    var go = function () {
      video.currentTime = time;
      if (play) {
        var attempt = video.play();
        if (attempt && attempt.catch) attempt.catch(function () {});
      }
    };
    if (video.readyState >= 1) go();
    else video.addEventListener("loadedmetadata", go, { once: true });
  }

  function init(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("video.hls-player")) setup(scope);
    scope.querySelectorAll("video.hls-player").forEach(setup);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-seek]");
    if (!link) return;
    var video = document.querySelector("video.hls-player");
    if (!video) return; // no player (a locked video): the link opens the page at that time
    event.preventDefault();
    seekTo(video, parseFloat(link.dataset.seek) || 0, true);
    video.focus();
  });
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
