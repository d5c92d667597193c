// Builds Mayfly's static assets: static/src -> static/dist.
//
//   npm ci && npm run build
//
// - static/src/app.css is compiled by the Tailwind 4 CLI (minified);
// - htmx and its SSE extension are copied from node_modules;
// - every other file in static/src (app.js, favicon.svg, ...) is copied as is.
//
// The output must be byte-identical for identical inputs: CI rebuilds it and
// fails on any difference with the committed static/dist. So: no timestamps,
// no absolute paths, no source maps, and dist/ is emptied first so that files
// that are no longer produced disappear.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const staticDir = dirname(fileURLToPath(import.meta.url));
const root = dirname(staticDir);
const src = join(staticDir, "src");
const dist = join(staticDir, "dist");
const modules = join(root, "node_modules");

// Files taken from npm packages, by their name in dist/.
const vendor = {
  "htmx.min.js": join(modules, "htmx.org", "dist", "htmx.min.js"),
  "htmx-ext-sse.min.js": join(modules, "htmx-ext-sse", "dist", "sse.min.js"),
};

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// Tailwind: scans only web/ (see the @source line in app.css).
const cli = join(modules, "@tailwindcss", "cli", "dist", "index.mjs");
const tw = spawnSync(
  process.execPath,
  [cli, "--input", join(src, "app.css"), "--output", join(dist, "app.css"), "--minify"],
  { cwd: root, stdio: ["ignore", "inherit", "pipe"], encoding: "utf8" },
);
if (tw.status !== 0) {
  process.stderr.write(tw.stderr ?? "");
  console.error(`build: tailwindcss failed (exit ${tw.status})`);
  process.exit(1);
}
// End the file with exactly one newline, whatever the CLI does.
const css = readFileSync(join(dist, "app.css"), "utf8").replace(/\s*$/, "\n");
writeFileSync(join(dist, "app.css"), css);

for (const [name, from] of Object.entries(vendor)) {
  copyFileSync(from, join(dist, name));
}

for (const name of readdirSync(src).sort()) {
  if (name === "app.css" || !statSync(join(src, name)).isFile()) continue;
  if (/\.(js|css|svg|json|txt|webmanifest)$/.test(name)) {
    // Normalise line endings so a Windows checkout builds the same bytes.
    const text = readFileSync(join(src, name), "utf8").replace(/\r\n/g, "\n");
    writeFileSync(join(dist, name), text);
  } else {
    copyFileSync(join(src, name), join(dist, name));
  }
}

for (const name of readdirSync(dist).sort()) {
  const size = statSync(join(dist, name)).size;
  console.log(`${relative(root, join(dist, name))}\t${size} bytes`);
}
