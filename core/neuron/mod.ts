export * from "./schemas.ts";
export * from "./pull.ts";
