import { assert, assertEquals } from "../../../tests/assert.ts";
import {
  installedRpcModule,
  RPC_MODULE,
  RPC_MODULE_FILE,
  RPC_SERVER,
  rpcModuleFlags,
} from "./rpc_module.ts";

Deno.test("rpc module flags: the prebuilt's layout, the RPC backend alone, unversioned sonames", () => {
  const f = rpcModuleFlags("Ninja");
  for (
    const want of [
      "-DGGML_BACKEND_DL=ON",
      "-DGGML_CPU=OFF",
      "-DGGML_RPC=ON",
      "-DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON",
      "-DCMAKE_INSTALL_RPATH=$ORIGIN",
    ]
  ) assert(f.includes(want), want);
  assertEquals(f.slice(0, 2), ["-G", "Ninja"]);
});

Deno.test("rpc module install: complete only with the module, the server and every file's size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rpc-module-" });
  try {
    assertEquals(installedRpcModule(dir), null);
    await Deno.writeTextFile(`${dir}/${RPC_MODULE}`, "module");
    await Deno.writeTextFile(`${dir}/${RPC_SERVER}`, "server");
    const record = {
      schema: 1,
      files: { [RPC_MODULE]: 6, [RPC_SERVER]: 6 },
    };
    await Deno.writeTextFile(`${dir}/${RPC_MODULE_FILE}`, JSON.stringify(record));
    assert(installedRpcModule(dir) !== null);
    await Deno.writeTextFile(`${dir}/${RPC_SERVER}`, "changed!");
    assertEquals(installedRpcModule(dir), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
