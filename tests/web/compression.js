// CompressionStream and DecompressionStream: round trips in every format, streams made by
// zlib decoded whole and a byte at a time, and the errors the standard asks for. (Compressed
// bytes are not compared: encoders may choose differently. Nor are error names, or data after
// the end of a deflate stream and chunks that are not bytes: Node 20 departs from the standard
// there; `web_apis.rs` checks Kiln's answers to those.)
async function probe() {
  const out = {};
  const collect = async (stream) => new Uint8Array(await new Response(stream).arrayBuffer());
  const through = (chunks, transform) => {
    const source = new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    return collect(source.pipeThrough(transform));
  };
  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const text = "hello hello hello kiln ".repeat(500);
  const bytes = new TextEncoder().encode(text);
  for (const format of ["gzip", "deflate", "deflate-raw"]) {
    const compressed = await through([bytes.subarray(0, 100), bytes.subarray(100)], new CompressionStream(format));
    const back = await through([compressed], new DecompressionStream(format));
    out[`round ${format}`] = [new TextDecoder().decode(back) === text, compressed.length < bytes.length / 10, format === "deflate-raw" ? null : compressed[0]];
  }
  out.empty = await Promise.all(["gzip", "deflate", "deflate-raw"].map(async (f) => (await through([], new DecompressionStream(f)).catch((e) => e.name)) instanceof Uint8Array ? "bytes" : "error"));
  const made = {
    gzip: "H4sIAAAAAAAAA/POzMlTSM7PLShKLS5OLdZR8AYJpKQihPQgQlRQAwDY4skTbAAAAA==",
    deflate: "eJzzzszJU0jOzy0oSi0uTi3WUfAGCaSkIoT0IEJUUAMAgzsn1g==",
    "deflate-raw": "887MyVNIzs8tKEotLk4t1lHwBgmkpCKE9CBCVFADAA==",
  };
  for (const [format, data] of Object.entries(made)) {
    const compressed = fromBase64(data);
    const whole = new TextDecoder().decode(await through([compressed], new DecompressionStream(format)));
    const bytewise = new TextDecoder().decode(await through([...compressed].map((b) => new Uint8Array([b])), new DecompressionStream(format)));
    out[`zlib ${format}`] = [whole, bytewise === whole];
    const failure = async (chunks) => {
      try { await through(chunks, new DecompressionStream(format)); return "no error"; } catch (e) { return e instanceof Error ? "error" : "not an Error"; }
    };
    out[`errors ${format}`] = [
      await failure([compressed.subarray(0, compressed.length - 3)]),
      await failure([new Uint8Array([0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5, 0xf4])]),
    ];
  }
  const corrupt = fromBase64(made.gzip);
  corrupt[corrupt.length - 6] ^= 0xff;
  out.checksum = await through([corrupt], new DecompressionStream("gzip")).then(() => "no error", (e) => e instanceof Error);
  try { new CompressionStream("brotli"); out.format = "no error"; } catch (e) { out.format = e.name; }
  try { new DecompressionStream(); out.noFormat = "no error"; } catch (e) { out.noFormat = e.name; }
  const pair = new CompressionStream("gzip");
  out.shape = [pair.readable instanceof ReadableStream, pair.writable instanceof WritableStream];
  return out;
}
