// Seeded by Kiln on first start: POST /functions/v2/hello with {"name": "Alice"}
export default function (input) {
  return { message: `Hello, ${input.name || "World"}!` };
}
