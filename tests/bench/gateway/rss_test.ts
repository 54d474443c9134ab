import { assert, assertEquals } from "../../assert.ts";
import { parseVmRssKiB, rssKiB, sampleRssPeak } from "./rss.ts";

Deno.test("parseVmRssKiB reads the VmRSS line of /proc/<pid>/status", () => {
  const status = "Name:\tdeno\nVmPeak:\t  999999 kB\nVmRSS:\t   81234 kB\nRssAnon:\t 1 kB\n";
  assertEquals(parseVmRssKiB(status), 81234);
  assertEquals(parseVmRssKiB("Name:\tkthreadd\n"), NaN);
});

Deno.test("rssKiB reads this process; the sampler keeps the peak; NaN without a process", async () => {
  const now = await rssKiB(Deno.pid);
  assert(now > 1024, `RSS ${now} KiB`);
  const sampler = sampleRssPeak(Deno.pid, 5);
  await new Promise((r) => setTimeout(r, 20));
  assert((await sampler.stop()) > 1024);
  assertEquals(await rssKiB(null), NaN);
  assertEquals(await sampleRssPeak(null, 1).stop(), NaN);
});
