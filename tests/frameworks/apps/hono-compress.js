// Hono's compress middleware (CompressionStream): a large answer gzip- or deflate-encoded as
// the client asks, and as it was when the client accepts no encoding.
import { Hono } from "hono";
import { compress } from "hono/compress";

const app = new Hono();
app.use(compress());
app.get("/big", (c) => c.text("Kiln serves compressed answers. ".repeat(400)));
app.get("/json", (c) => c.json({ items: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item ${i}` })) }));
app.get("/small", (c) => c.text("tiny"));

export default app;
