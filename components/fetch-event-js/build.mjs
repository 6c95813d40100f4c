// Builds src/app.js into a wasi-http component with componentize-js: `node build.mjs OUT.wasm`.
import { componentize } from "@bytecodealliance/componentize-js";
import { writeFile } from "node:fs/promises";

const out = process.argv[2] ?? "fetch-event.wasm";
const { component } = await componentize({
  sourcePath: "src/app.js",
  witPath: "wit",
  worldName: "service",
});
await writeFile(out, component);
console.log(`wrote ${out} (${component.length} bytes)`);
