// The smallest service: one static answer.
export default { fetch() { return new Response("Hello, World!"); } };
