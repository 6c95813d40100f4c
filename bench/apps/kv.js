// The JSON handler with state: reads one key and increments a counter per request (the app is
// granted the store `default`, `env.KV`).
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const greeting = (await env.KV.get("greeting")) ?? "hello";
    const visits = await env.KV.increment("visits");
    return Response.json({ path: url.pathname, greeting: `${greeting} ${url.searchParams.get("name") ?? "world"}`, visits });
  },
};
