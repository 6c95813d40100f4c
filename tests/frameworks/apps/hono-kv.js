// A Hono app keeping its data in the store bound as `KV` (`"kv": ["default"]`).
import { Hono } from "hono";

const app = new Hono();

app.put("/notes/:id", async (c) => {
  await c.env.KV.put(`note:${c.req.param("id")}`, await c.req.text());
  return c.body(null, 201);
});

app.get("/notes/:id", async (c) => {
  const note = await c.env.KV.get(`note:${c.req.param("id")}`);
  return note === null ? c.notFound() : c.text(note);
});

app.get("/visits", async (c) => c.json({ visits: await c.env.KV.increment("visits") }));

export default app;
