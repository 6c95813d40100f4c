// An itty-router app: routing, params, query, JSON bodies, errors and 404s.
import { AutoRouter, error, json } from "itty-router";

const router = AutoRouter();
router
  .get("/", () => "Hello itty!")
  .get("/items/:id", ({ params, query }) => ({ id: params.id, sort: query.sort ?? null }))
  .post("/items", async (request) => json({ created: await request.json() }, { status: 201 }))
  .get("/teapot", () => error(418, "I am a teapot"))
  .get("/throws", () => {
    throw new Error("boom");
  });

export default router;
