import { assert, assertEquals } from "../../assert.ts";
import { UsageError } from "../common/options.ts";
import { parseOptions } from "./options.ts";

function usageError(args: string[]): UsageError {
  try {
    parseOptions(args);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error(`parseOptions(${args.join(" ")}) did not fail`);
}

Deno.test("defaults: 1 thread, 5 rounds, table output, every peer", () => {
  assertEquals(parseOptions([]), {
    threads: 1,
    rounds: 5,
    json: false,
    skipNode: false,
    skipMemory: false,
  });
});

Deno.test("flags are read", () => {
  assertEquals(
    parseOptions(["--threads", "2", "--rounds=3", "--json", "--skip-node", "--skip-memory"]),
    { threads: 2, rounds: 3, json: true, skipNode: true, skipMemory: true },
  );
});

Deno.test("bad values name the flag", () => {
  for (const [args, flag] of [[["--threads", "0"], "--threads"], [["--rounds", "x"], "--rounds"]]) {
    const e = usageError(args as string[]);
    assert(e.message.includes(flag as string), e.message);
  }
  assert(usageError(["--thread", "2"]).message.includes("--thread"));
  assert(usageError(["extra"]).message.includes("extra"));
});

Deno.test("--help gives the help text", () => {
  const e = usageError(["--help"]);
  assertEquals(e.help, true);
  assert(e.message.includes("--rounds"), e.message);
});
