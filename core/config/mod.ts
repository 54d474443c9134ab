/** Public surface of the config package: schemas, types, loaders and errors for cortex.toml, models.toml and neuron.toml. */
export { ConfigError, type ConfigIssue, formatConfigError, makeIssue } from "./config_error.ts";
export {
  AuthSectionSchema,
  CORTEX_DEFAULTS_LABEL,
  type CortexConfig,
  CortexConfigSchema,
  EmbeddedSectionSchema,
  EvictionSectionSchema,
  GatewaySectionSchema,
  loadCortexConfig,
  type NeuronEntry,
  NeuronEntrySchema,
  parseCortexConfig,
  ResponsesSectionSchema,
} from "./cortex_config.ts";
export {
  checkModelsAgainstNeurons,
  loadModelsConfig,
  type ModelProfile,
  ModelProfileSchema,
  type ModelsConfig,
  ModelsConfigSchema,
  type ModelsOptions,
  type ModelsSource,
  parseModelsConfig,
  type SamplingDefaults,
  SamplingSchema,
} from "./models_config.ts";
export {
  loadNeuronConfig,
  type NeuronConfig,
  NeuronConfigSchema,
  parseNeuronConfig,
} from "./neuron_config.ts";
export { type ModelSource, parseModelSource } from "./model_source.ts";
export { formatDuration, MAX_DURATION_MS, parseDuration } from "./duration.ts";
export { type HostPort, normalizeHostPort, splitHostPort } from "./host_port.ts";
export { type Env } from "./env_overrides.ts";
export { type ParseOptions } from "./resolve_paths.ts";
