/** `cortex serve`: loads cortex.toml and models.toml, starts the gateway. */

import {
  type CortexConfig,
  formatConfigError,
  loadCortexConfig,
  loadModelsConfig,
  type ModelsConfig,
} from "../core/config/mod.ts";
import { serveGateway } from "../gateway/serve.ts";
import { onShutdownSignal } from "./signals.ts";

export async function cortexServe(opts: { config?: string }): Promise<void> {
  const env = Deno.env.toObject();
  let config: CortexConfig;
  let models: ModelsConfig;
  try {
    config = await loadCortexConfig(opts.config, env);
    models = await loadModelsConfig(config.gateway.models, env, { cortex: config });
  } catch (e) {
    console.error(formatConfigError(e));
    Deno.exit(2);
  }
  let running;
  try {
    running = await serveGateway(config, models, { env, configFile: opts.config });
  } catch (e) {
    // A bad embedded neuron.toml, or a TLS file that cannot be read, is still a configuration error.
    if ((e as Error).name === "ConfigError") {
      console.error(formatConfigError(e));
      Deno.exit(2);
    }
    throw e;
  }
  console.log(`cortex listening on ${running.url} (metrics ${running.metricsUrl}/metrics)`);
  onShutdownSignal(async () => {
    await running.shutdown();
    Deno.exit(0);
  });
}
