// Seeded by Kiln on first start: GET /api/v2/hello?name=World
Deno.serve((req) => {
  const url = new URL(req.url);
  const name = url.searchParams.get("name") || "World";
  return new Response(JSON.stringify({
    message: `Hello, ${name}!`,
    service: "hello",
    timestamp: new Date().toISOString(),
  }), { headers: { "Content-Type": "application/json" } });
});
