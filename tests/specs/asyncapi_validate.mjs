// Validate AsyncAPI documents with the official parser (@asyncapi/parser).
//
//   node asyncapi_validate.mjs NODE_DIR FILE...
//
// NODE_DIR holds the node_modules that `npm ci` installed from this folder's package.json and lockfile.
// Prints one JSON line per file: {"file", "errors": [...], "warnings": [...]}; exits 1 if any has errors.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const [nodeDir, ...files] = process.argv.slice(2);
const require = createRequire(join(resolve(nodeDir), "package.json"));
const { Parser } = require("@asyncapi/parser");
const parser = new Parser();
const where = (d) => `${d.path.join("/") || "(root)"}: ${d.message}`;

let failed = false;
for (const file of files) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
  const errors = diagnostics.filter((d) => d.severity === 0).map(where);
  const warnings = diagnostics.filter((d) => d.severity === 1).map(where);
  if (errors.length || document === undefined) failed = true;
  console.log(JSON.stringify({ file, errors, warnings, parsed: document !== undefined }));
}
process.exit(failed ? 1 : 0);
