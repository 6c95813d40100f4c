// The smallest Kiln app: `just serve` serves it at http://127.0.0.1:8000/.
export default {
  fetch(request) {
    const name = new URL(request.url).searchParams.get("name") ?? "World";
    return Response.json({ message: `Hello, ${name}!`, servedBy: "kiln" });
  },
};
