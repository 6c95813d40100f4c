// A function: `kiln run examples/countdown/index.js --input '{"from":3}'` prints each yield as a
// JSON line as it comes, then the return value.
export default async function* countdown(input) {
  for (let i = input.from ?? 3; i > 0; i--) {
    yield { i };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return "Liftoff!";
}
