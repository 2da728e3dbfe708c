/*
 * Virta: the BPMN diagram of a case, drawn with bpmn-js (vendored by scripts/vendor-js).
 *
 * Load after the viewer bundle, both deferred, in this order:
 *   <script src="/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" defer></script>
 *   <script src="/static/js/diagram.js" defer></script>
 * with the stylesheets vendor/bpmn-js/assets/diagram-js.css, vendor/bpmn-js/assets/bpmn-js.css
 * and css/diagram.css.
 *
 * Contract (the element is left empty by the template):
 *   <div id="diagram"
 *        data-bpmn-url="/..."              same-origin URL of the BPMN XML (session cookie sent)
 *        data-completed='["id", ...]'      completed flow nodes            -> class virta-done
 *        data-flows='["flow_id", ...]'     sequence flows taken            -> class virta-done
 *        data-active='["id", ...]'         waiting / ready flow nodes      -> class virta-active
 *        data-error="..."                  text shown when the diagram cannot be drawn
 *        aria-label="...">                 name of the picture; diagram.js sets role="img" once
 *                                          drawn and removes it on error (leave role out)
 *
 * State, for CSS and tests: data-state="loading" | "ready" | "error" on the element. Without
 * JavaScript (or when this file fails to load) diagram.css shows data-error via ::before.
 * Nothing here uses eval, inline <style> or style attributes: it runs under
 * "script-src 'self'; style-src 'self'".
 */
(function () {
  'use strict';

  var DONE = 'virta-done';
  var ACTIVE = 'virta-active';
  var DEFAULT_ERROR = 'The process diagram could not be shown.';

  /** The string ids in a JSON-array attribute; [] when absent or malformed. */
  function idList(el, name) {
    var raw = el.getAttribute(name);
    if (!raw) {
      return [];
    }
    try {
      var value = JSON.parse(raw);
      return Array.isArray(value)
        ? value.filter(function (id) { return typeof id === 'string' && id !== ''; })
        : [];
    } catch (e) {
      console.error('diagram.js: ' + name + ' is not a JSON array', e);
      return [];
    }
  }

  function showError(el, err) {
    if (err) {
      console.error('diagram.js: the diagram could not be drawn', err);
    }
    // The message is text to read, not the name of a picture.
    if (el.getAttribute('role') === 'img') {
      el.removeAttribute('role');
    }
    el.textContent = el.getAttribute('data-error') || DEFAULT_ERROR;
    el.setAttribute('data-state', 'error');
  }

  function sameOriginUrl(value) {
    if (!value) {
      throw new Error('data-bpmn-url is missing');
    }
    var url = new URL(value, window.location.href);
    if (url.origin !== window.location.origin) {
      throw new Error('data-bpmn-url is not same-origin: ' + url.href);
    }
    return url.href;
  }

  /** Adds `marker` to each id the diagram has; returns the ids it does not have. */
  function mark(canvas, registry, ids, marker) {
    var missing = [];
    ids.forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, marker);
      } else {
        missing.push(id);
      }
    });
    return missing;
  }

  function render(el) {
    el.setAttribute('data-state', 'loading');
    el.textContent = '';

    var Viewer = window.BpmnJS;
    if (typeof Viewer !== 'function') {
      return Promise.reject(new Error('the bpmn-js viewer bundle is not loaded'));
    }

    var url;
    try {
      url = sameOriginUrl(el.getAttribute('data-bpmn-url'));
    } catch (e) {
      return Promise.reject(e);
    }

    return window.fetch(url, {
      credentials: 'same-origin',
      headers: { Accept: 'application/xml, text/xml;q=0.9, */*;q=0.1' },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error('GET ' + url + ' answered ' + response.status);
      }
      return response.text();
    }).then(function (xml) {
      var host = document.createElement('div');
      host.className = 'virta-diagram-canvas';
      el.appendChild(host);

      var viewer = new Viewer({ container: host });
      return viewer.importXML(xml).then(function (result) {
        if (result && result.warnings && result.warnings.length) {
          console.warn('diagram.js: BPMN import warnings', result.warnings);
        }
        var canvas = viewer.get('canvas');
        var registry = viewer.get('elementRegistry');

        var active = idList(el, 'data-active');
        var isActive = {};
        active.forEach(function (id) { isActive[id] = true; });
        // An element that is waiting again (a loop) shows as active, not as done.
        var done = idList(el, 'data-completed').concat(idList(el, 'data-flows'))
          .filter(function (id) { return !isActive[id]; });

        var missing = mark(canvas, registry, done, DONE)
          .concat(mark(canvas, registry, active, ACTIVE));
        if (missing.length) {
          console.warn('diagram.js: ids not in the diagram', missing);
        }

        canvas.zoom('fit-viewport', 'auto');

        if (!el.hasAttribute('role')) {
          el.setAttribute('role', 'img');
        }
        el.setAttribute('data-state', 'ready');

        var timer = null;
        window.addEventListener('resize', function () {
          window.clearTimeout(timer);
          timer = window.setTimeout(function () { canvas.resized(); }, 150);
        });
        return viewer;
      });
    });
  }

  function start() {
    var el = document.getElementById('diagram');
    if (!el) {
      return;
    }
    try {
      render(el).catch(function (err) { showError(el, err); });
    } catch (err) {
      showError(el, err);
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
