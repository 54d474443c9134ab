/**
 * `deno task bench <name> [flags]`: runs the benchmark in `tests/bench/<name>.ts`, which
 * exports `main(args): Promise<number>` (the exit code).
 */

const HERE = new URL("./", import.meta.url);

/** Benchmarks present: every `<name>.ts` beside this file except this one. */
export function listBenches(): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync(HERE)) {
    if (!e.isFile || !e.name.endsWith(".ts") || e.name.endsWith("_test.ts")) continue;
    if (e.name === "main.ts") continue;
    names.push(e.name.slice(0, -3));
  }
  return names.sort();
}

interface BenchModule {
  main(args: string[]): Promise<number>;
}

export async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const benches = listBenches();
  const usage = `usage: deno task bench <name> [flags]; benchmarks: ${benches.join(", ")}`;
  if (name === undefined || name === "--help" || name === "-h") {
    console.log(usage);
    return name === undefined ? 2 : 0;
  }
  if (!benches.includes(name)) {
    console.error(`unknown benchmark "${name}"; ${usage}`);
    return 2;
  }
  const mod = await import(new URL(`./${name}.ts`, HERE).href) as Partial<BenchModule>;
  if (typeof mod.main !== "function") {
    console.error(`tests/bench/${name}.ts does not export main(args)`);
    return 2;
  }
  return await mod.main(rest);
}

if (import.meta.main) Deno.exit(await dispatch(Deno.args));
