/**
 * The unit files, the sysusers snippet and the env examples, checked with systemd's own tools
 * (`systemd-analyze verify`, `systemd-sysusers --root`) and against the config loaders.
 *
 * Needs the `systemd` package (Debian: `apt-get install systemd`): without systemd-analyze these
 * tests fail rather than skip, because an unverified unit file is exactly what they exist to stop.
 */

import { loadCortexConfig, loadNeuronConfig } from "../core/config/mod.ts";
import { parseLevel } from "../core/log.ts";
import { assert, assertEquals, assertMatch } from "../tests/assert.ts";

const HERE = new URL("./", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;
const UNITS = ["cortex", "neuron"] as const;
type UnitName = (typeof UNITS)[number];

interface Run {
  code: number;
  output: string;
}

async function run(cmd: string, args: string[]): Promise<Run> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `${cmd} is not installed: install the systemd package (Debian/Ubuntu: ` +
          `\`apt-get install systemd\`) to check the unit files`,
      );
    }
    throw e;
  }
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/** `[Section] Key=value` settings; repeated keys keep every value in order. */
function parseUnit(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = line.match(/^\[(.+)\]$/);
    if (header) {
      section = header[1];
      continue;
    }
    const eq = line.indexOf("=");
    assert(eq > 0, `not a setting: ${line}`);
    const key = `${section}.${line.slice(0, eq).trim()}`;
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return settings;
}

const unitText = (name: UnitName) => Deno.readTextFile(`${HERE}${name}.service`);

/**
 * Copies the units into `dir` with ExecStart pointing at stub executables there (verify
 * insists that the binary exists), runs `systemd-analyze verify` on the copies, and returns
 * its exit code and the output lines that concern them.
 */
async function verifyUnits(dir: string, units: Record<string, string>): Promise<Run> {
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  const paths: string[] = [];
  for (const [name, text] of Object.entries(units)) {
    const real = `/usr/local/bin/${name}`;
    const stub = `${dir}/bin/${name}`;
    await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const execStarts = text.split("\n").filter((l) => l.startsWith("ExecStart="));
    assertEquals(execStarts, [`ExecStart=${real} serve --config /etc/cortex/${name}.toml`]);
    paths.push(`${dir}/${name}.service`);
    await Deno.writeTextFile(
      paths.at(-1)!,
      text.replace(`ExecStart=${real} `, `ExecStart=${stub} `),
    );
  }
  const r = await run("systemd-analyze", ["verify", "--man=no", ...paths]);
  const ours = r.output.split("\n").filter((l) =>
    l.includes(dir) || Object.keys(units).some((n) => l.includes(`${n}.service`))
  );
  return { code: r.code, output: ours.join("\n") };
}

Deno.test("systemd-analyze verify accepts both units without a warning", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cortex-units-" });
  try {
    const units = { cortex: await unitText("cortex"), neuron: await unitText("neuron") };
    const r = await verifyUnits(dir, units);
    assertEquals(r.output, "", `systemd-analyze verify reported:\n${r.output}`);
    assertEquals(r.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("systemd-analyze verify reports a misspelled directive (the check above can fail)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cortex-units-" });
  try {
    const broken = (await unitText("neuron")).replace("ProtectHome=yes", "ProtectHomes=yes");
    const r = await verifyUnits(dir, { neuron: broken });
    assertMatch(r.output, /Unknown key (name )?'ProtectHomes'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("both units carry the hardening and shutdown settings the design needs", async () => {
  for (const name of UNITS) {
    const s = parseUnit(await unitText(name));
    const one = (key: string) => {
      const v = s.get(`Service.${key}`);
      assert(v?.length === 1, `${name}.service: expected one ${key}=, found ${v?.length ?? 0}`);
      return v[0];
    };
    const expected: Record<string, string> = {
      User: name,
      EnvironmentFile: `-/etc/cortex/${name}.env`,
      Restart: "on-failure",
      KillSignal: "SIGTERM",
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      ProtectKernelTunables: "yes",
      ProtectControlGroups: "yes",
      RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
      LockPersonality: "yes",
      RestrictRealtime: "yes",
      SystemCallArchitectures: "native",
      CapabilityBoundingSet: "",
    };
    for (const [key, value] of Object.entries(expected)) {
      assertEquals(one(key), value, `${name}.service ${key}=`);
    }
    assertEquals(one("StateDirectory").split(" ")[0], name);
    // V8's JIT needs pages it wrote to become executable.
    assert(!s.has("Service.MemoryDenyWriteExecute"), `${name}.service sets MemoryDenyWriteExecute`);
    // The drain deadline is 30 s; SIGKILL must not cut it short.
    const stop = one("TimeoutStopSec").match(/^(\d+)s?$/);
    assert(stop && Number(stop[1]) > 30, `${name}.service TimeoutStopSec must exceed 30 s`);
  }
  const neuron = parseUnit(await unitText("neuron"));
  assertEquals(neuron.get("Service.DevicePolicy"), ["closed"]);
  assertEquals(neuron.get("Service.PrivateDevices"), ["no"]);
  const devices = neuron.get("Service.DeviceAllow") ?? [];
  for (const d of ["char-nvidia-frontend rw", "char-nvidiactl rw", "char-nvidia-uvm rw"]) {
    assert(devices.includes(d), `neuron.service lacks DeviceAllow=${d}`);
  }
});

Deno.test("sysusers.conf creates each unit's user with its state directory as home", async () => {
  const root = await Deno.makeTempDir({ prefix: "cortex-sysusers-" });
  try {
    await Deno.mkdir(`${root}/etc`);
    const r = await run("systemd-sysusers", [`--root=${root}`, `${HERE}sysusers.conf`]);
    assertEquals(r.code, 0, r.output);
    const passwd = await Deno.readTextFile(`${root}/etc/passwd`);
    for (const name of UNITS) {
      const entry = passwd.split("\n").find((l) => l.startsWith(`${name}:`));
      assert(entry, `sysusers.conf created no user ${name}:\n${passwd}`);
      const [, , uid, , , home, shell] = entry.split(":");
      assert(Number(uid) > 0 && Number(uid) < 1000, `${name} is not a system user: ${entry}`);
      assertEquals(home, `/var/lib/${name}`);
      assertMatch(shell, /nologin$/);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * KEY=value lines, `#KEY=value` examples included, in the subset systemd's EnvironmentFile= and
 * sh read alike: plain values, or values wrapped whole in single quotes.
 */
function envAssignments(text: string): { key: string; value: string; active: boolean }[] {
  const out = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^(#?)([A-Z][A-Z0-9_]*)=(.*)$/);
    if (!m) {
      assert(line === "" || line.startsWith("# ") || line === "#", `unexpected line: ${line}`);
      continue;
    }
    const [, hash, key, raw] = m;
    const quoted = raw.match(/^'([^']*)'$/);
    // Outside single quotes systemd and sh treat quotes differently; $ and \ differ everywhere.
    const unsafe = quoted ? /[\\$]/ : /["'\\$]/;
    assert(!unsafe.test(raw), `${key}: ${raw} reads differently in systemd and sh; use '...'`);
    out.push({ key, value: quoted ? quoted[1] : raw, active: hash === "" });
  }
  return out;
}

const LOADERS: Record<UnitName, (env: Record<string, string>) => Promise<unknown>> = {
  cortex: (env) => loadCortexConfig(`${ROOT}cortex.example.toml`, env),
  neuron: (env) => loadNeuronConfig(`${ROOT}neuron.example.toml`, env),
};

Deno.test("every variable in the env examples is one the config accepts and applies", async () => {
  for (const name of UNITS) {
    const vars = envAssignments(await Deno.readTextFile(`${HERE}${name}.env.example`));
    assert(vars.length >= 3, `${name}.env.example has too few examples`);
    const base = JSON.stringify(await LOADERS[name]({}));
    for (const { key, value } of vars) {
      if (key === "CORTEX_LOG") {
        // Read by core/log.ts, not by the config file.
        assertEquals(parseLevel(value), value, `${name}.env.example: CORTEX_LOG=${value}`);
        continue;
      }
      const applied = JSON.stringify(await LOADERS[name]({ [key]: value }));
      assert(applied !== base, `${name}.env.example: ${key}=${value} changes nothing`);
    }
  }
  // The one active neuron setting keeps model pulls inside the unit's writable state directory.
  const neuronVars = envAssignments(await Deno.readTextFile(`${HERE}neuron.env.example`));
  const active = neuronVars.filter((v) => v.active).map((v) => v.key);
  assert(active.includes("NEURON_MODEL_DIRS"));
  const c = await loadNeuronConfig(`${ROOT}neuron.example.toml`, {
    NEURON_MODEL_DIRS: neuronVars.find((v) => v.key === "NEURON_MODEL_DIRS")!.value,
  });
  assert(c.model_dirs.every((d) => d.startsWith("/var/lib/neuron/")), c.model_dirs.join());
});
