/*
 * The labeling page's API client: JSON over fetch with the CSRF token, and
 * one error shape. A request that never got an answer (offline, the server
 * restarting behind a proxy) is marked `network` so the page retries it
 * instead of telling the annotator something is wrong with their work.
 */
(function (global) {
  "use strict";

  var RETRYABLE = { 502: true, 503: true, 504: true };

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function networkError(cause) {
    var err = new Error("no connection to the server");
    err.network = true;
    err.cause = cause;
    return err;
  }

  function client(base) {
    function request(method, path, body) {
      return fetch(base + path, {
        method: method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), "Accept": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body)
      }).catch(function (cause) { throw networkError(cause); }).then(function (resp) {
        if (RETRYABLE[resp.status]) throw networkError(resp.status);
        if (resp.status === 204) return null;
        return resp.json().catch(function () { return {}; }).then(function (data) {
          if (!resp.ok) {
            var err = new Error(data.detail || firstFieldError(data) || ("request failed (" + resp.status + ")"));
            err.status = resp.status;
            err.code = data.error;
            throw err;
          }
          return data;
        });
      });
    }

    // For the page closing: sendBeacon cannot set headers, so the CSRF token
    // travels as the form field Django reads.
    function beacon(path) {
      if (!navigator.sendBeacon) return false;
      var form = new FormData();
      form.append("csrfmiddlewaretoken", csrf());
      return navigator.sendBeacon(base + path, form);
    }

    return {
      get: function (p) { return request("GET", p); },
      post: function (p, b) { return request("POST", p, b === undefined ? {} : b); },
      put: function (p, b) { return request("PUT", p, b); },
      beacon: beacon
    };
  }

  function firstFieldError(data) {
    // DRF field errors: {"field": ["message"], ...}
    for (var k in data) {
      if (Object.prototype.hasOwnProperty.call(data, k) && Array.isArray(data[k]) && data[k].length) {
        return k + ": " + data[k][0];
      }
    }
    return "";
  }

  global.PRMApi = { client: client };
})(window);
