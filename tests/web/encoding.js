// TextEncoder/TextDecoder (streaming, fatal, BOM) and their stream forms.
async function probe() {
  const out = {};
  const enc = new TextEncoder();
  out.encode = [Array.from(enc.encode("héllo €𝄞")), Array.from(enc.encode("\ud800x")), enc.encoding];
  const dest = new Uint8Array(5);
  out.encodeInto = [enc.encodeInto("a€b𝄞", dest), Array.from(dest)];
  const dec = new TextDecoder();
  const bytes = enc.encode("a€𝄞z");
  let streamed = "";
  for (const b of bytes) streamed += dec.decode(new Uint8Array([b]), { stream: true });
  streamed += dec.decode();
  out.streamed = streamed;
  out.invalid = new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0xe2, 0x82, 0x62, 0xf0, 0x9f]));
  try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])); out.fatal = "no error"; } catch (e) { out.fatal = e.name; }
  out.bom = [new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])).length];
  out.props = [dec.encoding, dec.fatal, dec.ignoreBOM, new TextDecoder("UTF8").encoding];
  try { new TextDecoder("klingon"); out.badLabel = "no error"; } catch (e) { out.badLabel = e.name; }
  out.views = [new TextDecoder().decode(new Uint16Array([0x6968])), new TextDecoder().decode(new DataView(enc.encode("xyz").buffer, 1, 2)), new TextDecoder().decode(enc.encode("ab").buffer)];
  const chunks = [];
  const source = new ReadableStream({ start(c) { c.enqueue("ab"); c.enqueue("€"); c.enqueue("\ud83d"); c.enqueue("\ude00!"); c.close(); } });
  for await (const chunk of source.pipeThrough(new TextEncoderStream())) chunks.push(Array.from(chunk));
  out.encoderStream = chunks;
  const texts = [];
  const byteSource = new ReadableStream({ start(c) { for (const b of enc.encode("ü€😀")) c.enqueue(new Uint8Array([b])); c.close(); } });
  for await (const text of byteSource.pipeThrough(new TextDecoderStream())) texts.push(text);
  out.decoderStream = texts.join("");
  out.tags = [String(enc), String(dec)];
  return out;
}
