/* Hypha's video player: hls.js on every <video class="hls-player" data-src="…">, on page load and on
 * panels htmx swaps in (e.g. right after an unlock). Decrypts AES-128 HLS with the key URL the
 * playlists name (the server checks access on every key request). Sends a heartbeat every 10 s while
 * playing, and on pause and end. Stops the free preview at its last second. Offers a choice of audio
 * track when there are several. No inline scripts (CSP).
 * With `data-ipfs` (full access), asks Hypha for the video's IPFS root: shows it, and when an IPFS
 * gateway is configured loads each segment from <gateway>/ipfs/<root>/<path> first, falling back to
 * Hypha's own URL when the gateway fails. Playlists and the key always come from Hypha. */
(function () {
  "use strict";

  var BEAT_MS = 10000;

  function newSessionId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return (Date.now().toString(36) + Math.random().toString(36).slice(2) + "0000000000").slice(0, 24);
  }

  function beat(video, state) {
    var url = video.dataset.heartbeat;
    if (!url || !state) return;
    var body = JSON.stringify({ position: Math.max(0, video.currentTime || 0), session: state.session });
    // htmx adds the CSRF header to its own requests only; fetch sends it here.
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
      headers: { "content-type": "application/json", "x-csrftoken": video.dataset.csrf || "" },
      body: body,
    }).catch(function () {});
  }

  function showError(video, message) {
    var holder = video.parentElement;
    if (!holder || holder.querySelector(".player-error")) return;
    var overlay = document.createElement("div");
    overlay.className = "player-overlay player-error";
    overlay.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.textContent = message;
    overlay.appendChild(text);
    holder.appendChild(overlay);
  }

  // The IPFS details of the video (root, gateway), shown under the player; resolves to null when there
  // are none (no access, an error): segments then come from Hypha only.
  function loadIpfs(video) {
    var url = video.dataset.ipfs;
    if (!url || !window.fetch) return Promise.resolve(null);
    // Segments wait for this answer: give up on it after a few seconds rather than stall playback.
    var late = new Promise(function (resolve) { setTimeout(function () { resolve(null); }, 4000); });
    var asked = fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (found) {
        if (!found || !found.root) return null;
        var note = video.parentElement && video.parentElement.parentElement
          ? video.parentElement.parentElement.querySelector("[data-ipfs-note]") : null;
        if (note) {
          note.querySelector("[data-ipfs-root]").textContent = found.root;
          note.hidden = false;
        }
        return found;
      })
      .catch(function () { return null; });
    return Promise.race([asked, late]);
  }

  // hls.js fragment loader: the gateway's copy first (same bytes: a segment's path is the same in the
  // IPFS directory), Hypha's URL when the gateway answers an error or times out.
  function gatewayLoader(video, state, base) {
    var Base = window.Hls.DefaultConfig.loader;
    function count(name) {
      video.dataset[name] = String(parseInt(video.dataset[name] || "0", 10) + 1);
    }
    function Loader(config) {
      this.config = config;
      this.inner = new Base(config);
    }
    Loader.prototype.load = function (context, config, callbacks) {
      var self = this;
      var original = context.url;
      state.ipfs.then(function (found) {
        var gateway = found && found.gateway;
        if (!gateway || original.indexOf(base) !== 0) {
          self.inner.load(context, config, callbacks);
          return;
        }
        var fallback = function () {
          count("ipfsFallbacks");
          self.inner.destroy();
          self.inner = new Base(self.config);
          context.url = original;
          self.inner.load(context, config, callbacks);
        };
        context.url = gateway + "/ipfs/" + found.root + "/" + original.slice(base.length);
        self.inner.load(context, config, {
          onSuccess: function (response, stats, ctx, details) {
            count("ipfsSegments");
            callbacks.onSuccess(response, stats, ctx, details);
          },
          onError: fallback,
          onTimeout: fallback,
          onProgress: callbacks.onProgress,
          onAbort: callbacks.onAbort,
        });
      });
    };
    Loader.prototype.abort = function () { this.inner.abort(); };
    Loader.prototype.destroy = function () { this.inner.destroy(); };
    Object.defineProperty(Loader.prototype, "stats", { get: function () { return this.inner.stats; } });
    Object.defineProperty(Loader.prototype, "context", { get: function () { return this.inner.context; } });
    return Loader;
  }

  /* ---- Audio tracks -------------------------------------------------------------------------------
   * A labelled <select> under the player, shown only when the video has two or more audio tracks
   * (languages, a commentary), listing hls.js's `audioTracks` by name (each option in its own language)
   * and switching `hls.audioTrack`. Kept in sync when hls.js switches by itself. */
  var audioMenus = 0;

  function audioMenu(video, hls) {
    var Hls = window.Hls;
    var menu = null;
    var select = null;

    function create() {
      audioMenus += 1;
      var id = "player-audio-" + audioMenus;
      menu = document.createElement("div");
      menu.className = "player-audio";
      menu.setAttribute("data-testid", "audio-menu");
      var label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = "Audio";
      select = document.createElement("select");
      select.id = id;
      select.setAttribute("data-testid", "audio-select");
      select.addEventListener("change", function () {
        var index = parseInt(select.value, 10);
        if (!isNaN(index) && index !== hls.audioTrack) hls.audioTrack = index;
      });
      menu.appendChild(label);
      menu.appendChild(select);
      var player = video.closest(".player") || video.parentElement;
      player.insertAdjacentElement("afterend", menu);
    }

    function render() {
      var tracks = hls.audioTracks || [];
      if (tracks.length < 2) {
        if (menu) menu.hidden = true;
        return;
      }
      if (!menu) create();
      select.textContent = "";
      tracks.forEach(function (track, index) {
        var option = document.createElement("option");
        option.value = String(index);
        option.textContent = track.name || track.lang || "Track " + (index + 1);
        if (track.lang) option.lang = track.lang;
        select.appendChild(option);
      });
      select.value = String(hls.audioTrack);
      menu.hidden = false;
    }

    hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, render);
    hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, function () {
      if (select) select.value = String(hls.audioTrack);
    });
    return function remove() {
      if (menu && menu.parentNode) menu.parentNode.removeChild(menu);
      menu = null;
      select = null;
    };
  }

  function setup(video) {
    if (video.dataset.ready) return;
    video.dataset.ready = "1";
    var src = video.dataset.src;
    var state = { session: newSessionId(), timer: null, hls: null, removeAudioMenu: null };
    video._hypha = state;
    state.ipfs = loadIpfs(video);

    if (window.Hls && window.Hls.isSupported()) {
      var options = { maxBufferLength: 30, backBufferLength: 60 };
      if (video.dataset.ipfs) {
        var base = new URL(src, window.location.href).href.replace(/[^/]*$/, "");
        options.fLoader = gatewayLoader(video, state, base);
      }
      var hls = new window.Hls(options);
      hls.on(window.Hls.Events.ERROR, function (_event, data) {
        if (!data.fatal) return;
        var status = data.response && data.response.code;
        if (status === 401 || status === 403) {
          showError(video, "Your access to this video has ended. Reload the page to unlock it again.");
          hls.destroy();
        } else if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) {
          hls.startLoad();
        } else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
        } else {
          showError(video, "This video cannot be played right now.");
          hls.destroy();
        }
      });
      state.removeAudioMenu = audioMenu(video, hls);
      hls.loadSource(src);
      hls.attachMedia(video);
      state.hls = hls;
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src; // Safari plays HLS (and AES-128) natively
    } else {
      showError(video, "Your browser cannot play this video.");
      return;
    }

    var preview = parseFloat(video.dataset.previewSeconds || "0");
    if (preview > 0) {
      var overlay = video.parentElement.querySelector("[data-preview-end]");
      var stop = function () {
        video.pause();
        if (overlay) overlay.hidden = false;
      };
      video.addEventListener("timeupdate", function () {
        if (video.currentTime >= preview) stop();
      });
      video.addEventListener("ended", stop);
    }

    video.addEventListener("play", function () {
      if (!state.timer) state.timer = setInterval(function () { beat(video, state); }, BEAT_MS);
    });
    var stopBeating = function () {
      if (state.timer) clearInterval(state.timer);
      state.timer = null;
      beat(video, state);
    };
    video.addEventListener("pause", stopBeating);
    video.addEventListener("ended", stopBeating);
    window.addEventListener("pagehide", function () {
      if (state.timer) stopBeating();
    });

    if (video.dataset.autoplay) {
      var attempt = video.play();
      if (attempt && attempt.catch) {
        attempt.catch(function () {
          video.muted = true; // browsers allow muted autoplay
          video.play().catch(function () {});
        });
      }
    }
  }

  function teardown(video) {
    var state = video._hypha;
    if (!state) return;
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    if (state.hls) state.hls.destroy();
    state.hls = null;
    if (state.removeAudioMenu) state.removeAudioMenu();
    state.removeAudioMenu = null;
  }

  function init(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("video.hls-player[data-src]")) setup(scope);
    scope.querySelectorAll("video.hls-player[data-src]").forEach(setup);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("video.hls-player")) teardown(target);
  });
})();
