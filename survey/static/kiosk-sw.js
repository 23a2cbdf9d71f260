/* Service worker of the kiosk pages (/k/...), served as /k/sw.js so its scope is /k/.
 *
 * A tablet that reloads while the network is down (a pull-to-refresh, a browser restart) still
 * gets the kiosk screen and keeps queueing ratings: the kiosk page and its script and styles are
 * fetched from the network first and copied into a cache, which answers only when the network
 * fails. The copy is the untouched page as the server sent it (no one's answers are ever in a
 * page), and ratings (POST) and everything else pass by untouched.
 */
"use strict";
var CACHE = "sipas-kiosk-v1";
var ASSETS = /^\/(static\/kiosk\.(js|css)|static\/public\/form\.css|q\/\d+\/when\.css)$/;

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  var page = /^\/k\/[A-Za-z0-9-]+$/.test(url.pathname);  // the kiosk page (not /k/sw.js, /k/X/token)
  if (!page && !ASSETS.test(url.pathname)) { return; }
  var key = url.origin + url.pathname + (page && url.searchParams.get("lang") === "en" ? "?lang=en" : "");
  event.respondWith(fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.put(key, copy); }));
    }
    return response;
  }).catch(function () {
    return caches.match(key).then(function (hit) { return hit || Response.error(); });
  }));
});
