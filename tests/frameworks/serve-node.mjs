// Serves a bundled fetch-handler app (`export default { fetch }`) with Node's http module, so that
// the same bundle can be compared under Node and Kiln. Usage: node serve-node.mjs bundle.js
import http from "node:http";
import { pathToFileURL } from "node:url";

const app = (await import(pathToFileURL(process.argv[2]).href)).default;
const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const hasBody = !["GET", "HEAD"].includes(req.method);
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const request = new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, body: hasBody ? Buffer.concat(chunks) : undefined });
  const response = await app.fetch(request);
  const out = {};
  for (const [name, value] of response.headers) out[name] = name in out ? `${out[name]}, ${value}` : value;
  res.writeHead(response.status, out);
  if (response.body) for await (const chunk of response.body) res.write(chunk);
  res.end();
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
