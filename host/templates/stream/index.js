// {{name}}: a Kiln function that streams. Each yield is sent as a Server-Sent Event the moment
// it is produced; the return value ends the stream.
export default async function* ({ from = 3 }) {
  for (let i = from; i > 0; i--) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    yield { i };
  }
  return "Liftoff!";
}
