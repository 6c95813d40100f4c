// Calls the JSON handler deployed as `json`: `/bound/…` through its binding (`env.JSON`, in the
// process), `/loop/…?via=host:port` over HTTP to Kiln's own listen address (granted as `net`).
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    const [, how, ...rest] = url.pathname.split("/");
    const path = "/" + rest.join("/") + url.search;
    if (how === "bound") return env.JSON.fetch(path);
    if (how === "loop") return fetch(`http://${url.searchParams.get("via")}/api/v2/json${path}`);
    return new Response("use /bound/… or /loop/…", { status: 404 });
  },
};
