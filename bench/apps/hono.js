// A Hono app as users write them: a few routes, middleware, JSON answers. Bundled with esbuild.
import { Hono } from "hono";
import { logger } from "hono/logger";

const app = new Hono();
app.use("/admin/*", logger());
app.get("/", (c) => c.text("Hello Hono!"));
app.get("/users/:id", (c) => c.json({ id: c.req.param("id"), name: `user ${c.req.param("id")}`, tags: ["a", "b"] }));
app.post("/users", async (c) => c.json(await c.req.json(), 201));
app.get("/posts/:post/comments/:comment", (c) => c.json(c.req.param()));
app.get("/search", (c) => c.json({ q: c.req.query("q") ?? "" }));
app.notFound((c) => c.json({ error: "not found" }, 404));

export default app;

// Requests Kiln replays before taking the app's snapshot, so that the work Hono does on its first
// request (building its router's matchers) is part of the snapshot instead of every fresh
// instance. Other servers ignore this export.
export const warmup = ["/users/0"];
