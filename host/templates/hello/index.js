// {{name}}: a Kiln service. Every request under its mount comes here.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/") {
      return Response.json({ message: "Hello from {{name}}!", servedBy: "kiln" });
    }
    return new Response(`No route for ${url.pathname}\n`, { status: 404 });
  },
};
