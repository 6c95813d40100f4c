// A service-worker style app compiled by componentize-js (StarlingMonkey). Its instances answer
// one request: a second `respondWith` on a reused instance throws, so Kiln must notice and serve
// it with a fresh instance per request.
let served = 0;

addEventListener("fetch", (event) => {
  served += 1;
  const url = new URL(event.request.url);
  event.respondWith(
    new Response(JSON.stringify({ engine: "starlingmonkey", path: url.pathname, served }), {
      headers: { "content-type": "application/json" },
    }),
  );
});
