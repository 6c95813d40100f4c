// A Hono app using the framework's everyday middleware and helpers.
import { Hono } from "hono";
import { cors } from "hono/cors";
import { etag } from "hono/etag";
import { secureHeaders } from "hono/secure-headers";
import { sign, verify } from "hono/jwt";
import { streamSSE, streamText } from "hono/streaming";
import { HTTPException } from "hono/http-exception";

const SECRET = "a-test-secret-of-enough-length";
const app = new Hono();

app.use("/api/*", cors({ origin: "https://app.example", allowHeaders: ["X-Custom"], exposeHeaders: ["X-Total"], credentials: true }));
app.use("/etag/*", etag());
app.use("/secure/*", secureHeaders());

app.get("/", (c) => c.text("Hello Hono!"));
app.get("/api/users/:id", (c) => {
  c.header("X-Total", "1");
  return c.json({ id: c.req.param("id"), q: c.req.query("q") ?? null, tags: c.req.queries("tag") ?? [] });
});
app.post("/api/users", async (c) => c.json({ created: await c.req.json() }, 201));
app.get("/etag/resource", (c) => c.json({ stable: "content", n: [1, 2, 3] }));
app.get("/secure/page", (c) => c.html("<h1>secure</h1>"));
app.get("/jwt/sign", async (c) => c.json({ token: await sign({ sub: "user-1", role: "admin", iat: 1700000000 }, SECRET) }));
app.get("/jwt/verify", async (c) => {
  const token = (c.req.header("Authorization") ?? "").replace(/^Bearer /, "");
  try {
    return c.json({ payload: await verify(token, SECRET, "HS256") });
  } catch (e) {
    return c.json({ error: e.name }, 401);
  }
});
app.post("/form", async (c) => {
  const body = await c.req.parseBody({ all: true });
  const describe = async (v) => (typeof v === "string" ? v : { name: v.name, type: v.type, size: v.size, text: await v.text() });
  const out = {};
  for (const [key, value] of Object.entries(body)) out[key] = Array.isArray(value) ? await Promise.all(value.map(describe)) : await describe(value);
  return c.json(out);
});
app.get("/sse", (c) =>
  streamSSE(c, async (stream) => {
    for (let i = 1; i <= 3; i++) {
      await stream.writeSSE({ event: "tick", id: String(i), data: JSON.stringify({ i }) });
      await stream.sleep(150);
    }
  }),
);
app.get("/text-stream", (c) =>
  streamText(c, async (stream) => {
    await stream.write("first ");
    await stream.sleep(50);
    await stream.writeln("second");
  }),
);
app.get("/error", () => {
  throw new Error("something broke");
});
app.get("/http-error", () => {
  throw new HTTPException(418, { message: "I am a teapot" });
});
app.onError((err, c) => {
  if (err instanceof HTTPException) return err.getResponse();
  return c.json({ error: err.message }, 500);
});
app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));

export default app;
