// Seeded by Kiln on first start: GET /api/v2/calculator?a=2&b=3&op=add
const ops = {
  add: (a, b) => a + b,
  subtract: (a, b) => a - b,
  multiply: (a, b) => a * b,
  divide: (a, b) => (b === 0 ? null : a / b),
};

function bad(message) {
  return Response.json({ error: "ValidationError", message }, { status: 400 });
}

Deno.serve(async (req) => {
  const url = new URL(req.url);
  let input = Object.fromEntries(url.searchParams);
  if (req.method === "POST") {
    try { input = await req.json(); } catch { return bad("the body must be JSON: {\"a\":2,\"b\":3,\"op\":\"add\"}"); }
  }
  const a = Number(input.a), b = Number(input.b), op = input.op || "add";
  if (input.a === undefined || input.b === undefined || Number.isNaN(a) || Number.isNaN(b)) {
    return bad("a and b must be numbers, e.g. ?a=2&b=3&op=add");
  }
  if (!(op in ops)) return bad(`unknown op '${op}': use add, subtract, multiply or divide`);
  const result = ops[op](a, b);
  if (result === null) return bad("division by zero");
  return Response.json({ a, b, op, result });
});
