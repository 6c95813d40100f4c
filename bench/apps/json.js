// A JSON handler: parses the URL and its query, answers with JSON.
export default {
  fetch(request) {
    const url = new URL(request.url);
    const name = url.searchParams.get("name") ?? "world";
    const times = Number(url.searchParams.get("times") ?? "1");
    return Response.json({ path: url.pathname, greeting: `hello ${name}`.repeat(times), method: request.method });
  },
};
