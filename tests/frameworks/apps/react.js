// React 19's server renderer in its web-streams build (`react-dom/server.browser`, which
// schedules its work with MessageChannel): a page with props, a list, escaping and a
// suspended component, streamed.
import { createElement as h, Suspense } from "react";
import { renderToReadableStream } from "react-dom/server.browser";

const cache = new Map();
function later(key, value) {
  if (!cache.has(key)) {
    let entry = { done: false, value: undefined };
    entry.promise = new Promise((resolve) => setTimeout(resolve, 20)).then(() => {
      entry.done = true;
      entry.value = value;
    });
    cache.set(key, entry);
  }
  const entry = cache.get(key);
  if (!entry.done) throw entry.promise;
  return entry.value;
}

function Slow({ id }) {
  return h("p", { className: "slow" }, later(id, `loaded ${id}`));
}

function Page({ name, items }) {
  return h(
    "html",
    null,
    h("head", null, h("title", null, `Hello ${name}`)),
    h(
      "body",
      null,
      h("h1", { id: "greeting" }, "Hello, ", name, "!"),
      h("ul", null, items.map((item) => h("li", { key: item }, item))),
      h(Suspense, { fallback: h("p", null, "loading…") }, h(Slow, { id: name })),
    ),
  );
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const name = url.searchParams.get("name") ?? "world";
    if (url.pathname === "/channel") {
      const { port1, port2 } = new MessageChannel();
      const echoed = await new Promise((resolve) => {
        port1.onmessage = (event) => resolve(event.data);
        port2.postMessage({ name, at: [1, 2, 3] });
      });
      port1.close();
      return Response.json(echoed);
    }
    const stream = await renderToReadableStream(h(Page, { name, items: ["<one>", "two & three"] }));
    await stream.allReady;
    return new Response(stream, { headers: { "content-type": "text/html; charset=utf-8" } });
  },
};
