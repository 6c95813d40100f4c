// {{name}}: a Hono app served by Kiln. `npm run build` bundles it into index.js.
import { Hono } from "hono";

const app = new Hono();

app.get("/", (c) => c.json({ message: "Hello from {{name}}!", framework: "hono" }));
app.get("/hello/:who", (c) => c.text(`Hello, ${c.req.param("who")}!`));

export default app;
