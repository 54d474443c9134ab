/**
 * Runs the `cortex` CLI the way an operator does (`deno run -A cli/cortex.ts …`)
 * and captures its exit code and output, with or without a terminal.
 */

const ROOT = new URL("../../", import.meta.url).pathname;
const ENTRY = `${ROOT}cli/cortex.ts`;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The test process's environment without CORTEX_* (the tests set their own). */
function baseEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("CORTEX_")),
  );
}

/** `cortex …args` with stdout and stderr piped (so stdout is not a terminal). */
export async function runCortex(
  args: string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ENTRY, ...args],
    cwd: ROOT,
    env: { ...baseEnv(), ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * `cortex …args` inside a pseudo-terminal of the given width (util-linux
 * `script`), so stdout is a terminal. Returns everything the terminal showed.
 */
export async function runCortexInTerminal(
  args: string[],
  env: Record<string, string> = {},
  columns = 100,
): Promise<CliRun> {
  const inner = `stty cols ${columns} rows 40; exec ${
    [Deno.execPath(), "run", "-A", ENTRY, ...args].map(quote).join(" ")
  }`;
  const out = await new Deno.Command("script", {
    args: ["-qefc", inner, "/dev/null"],
    cwd: ROOT,
    env: { ...baseEnv(), TERM: "xterm-256color", ...env },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // script reads its stdin for the terminal; keep it open (and empty) until the child exits.
  const status = out.status;
  const [stdout, stderr] = await Promise.all([
    new Response(out.stdout).text(),
    new Response(out.stderr).text(),
  ]);
  const { code } = await status;
  await out.stdin.close().catch(() => {});
  return { code, stdout, stderr };
}
