// Blob, File, FormData, and bodies built from them and read as them.
async function probe() {
  const out = {};
  const blob = new Blob(["héllo ", new Uint8Array([119, 111]), new Blob(["rld"])], { type: "Text/Plain" });
  out.blob = [blob.size, blob.type, await blob.text(), Array.from(await blob.bytes()).length, (await blob.arrayBuffer()).byteLength];
  out.slice = [await blob.slice(1, 3).text(), await blob.slice(-3).text(), blob.slice(0, 2, "a/b").type, blob.slice(5, 2).size];
  let streamed = 0; for await (const chunk of blob.stream()) streamed += chunk.length;
  out.stream = streamed;
  const file = new File(["abc"], "a.txt", { type: "text/plain", lastModified: 42 });
  out.file = [file.name, file.size, file.type, file.lastModified, file instanceof Blob, String(file), String(blob)];
  const form = new FormData();
  form.append("a", "1");
  form.append("a", "2");
  form.append("f", new Blob(["xyz"], { type: "text/csv" }), "data.csv");
  form.append("b", new Blob(["q"]));
  form.set("c", "3");
  out.form = [form.get("a"), form.getAll("a"), form.has("f"), form.get("f").name, form.get("f").type, form.get("b").name, form.get("nope"), [...form.keys()]];
  form.delete("a");
  out.afterDelete = [...form.keys()];
  const request = new Request("http://x/", { method: "POST", body: form });
  const type = request.headers.get("content-type");
  out.multipartType = /^multipart\/form-data; boundary=/.test(type);
  const parsed = await request.formData();
  out.parsed = [...parsed].map(([k, v]) => [k, typeof v === "string" ? v : [v.name, v.type, v.size]]);
  out.parsedFile = await parsed.get("f").text();
  const urlencoded = new Response("x=1&y=two+words&x=3", { headers: { "content-type": "application/x-www-form-urlencoded" } });
  const uf = await urlencoded.formData();
  out.urlencoded = [uf.getAll("x"), uf.get("y")];
  try { await new Response("{}", { headers: { "content-type": "application/json" } }).formData(); out.badForm = "no error"; } catch (e) { out.badForm = e.name; }
  const fromBlob = new Response(new Blob(["blob body"], { type: "text/x-kiln" }));
  out.fromBlob = [fromBlob.headers.get("content-type"), await fromBlob.text()];
  const asBlob = await new Response("abc", { headers: { "content-type": "text/plain" } }).blob();
  out.asBlob = [asBlob.size, asBlob.type, await asBlob.text()];
  out.tags = [String(form), Object.prototype.toString.call(form.entries())];
  return out;
}
