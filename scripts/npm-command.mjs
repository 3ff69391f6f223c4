// Which npm to spawn from scripts and tests. Under `npm test` / `npx`, PATH starts with the
// project's node_modules/.bin, where a dependency can install an old npm (@as-pect/cli brings npm
// 6.14, which has no --pack-destination and takes a folder for a package: ENOLOCAL).
import { existsSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The npm to run, as [command, ...leading args]: the one running this process tree (npm_execpath,
 * when it is npm's CLI outside the project), else the first `npm` on PATH outside node_modules/.bin.
 */
export function npmCommand() {
  const cli = process.env.npm_execpath;
  if (cli && /npm-cli\.js$/.test(cli) && !resolve(cli).startsWith(join(root, "node_modules"))) return [process.execPath, cli];
  const exe = process.platform === "win32" ? "npm.cmd" : "npm";
  for (const d of (process.env.PATH ?? "").split(delimiter)) {
    if (!d || /node_modules[\\/]\.bin[\\/]?$/.test(d)) continue;
    if (existsSync(join(d, exe))) return [join(d, exe)];
  }
  return [exe];
}
