// {{name}}: a Kiln function. JSON in, JSON out; named exports are methods of their own.
export default function (input) {
  return { message: `Hello, ${input.name ?? "World"}!` };
}

export function add({ a = 0, b = 0 }) {
  return a + b;
}
