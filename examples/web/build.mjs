// Bundles src/deps.js (@zk-kit/eddsa-poseidon, poseidon-lite, @noble/hashes) into one ES module,
// vendor/zkcrypto.js, loaded by the page and by the node tests alike. Run by install.sh and
// `npm run build`; the output is not committed.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
await build({
  entryPoints: [join(here, "src/deps.js")],
  outfile: join(here, "vendor/zkcrypto.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  legalComments: "eof",
  logLevel: "warning",
});
