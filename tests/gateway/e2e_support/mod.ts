/** End-to-end test support: a gateway in front of a real neuron, and grammars for fixtures. */
export { GRAMMAR_HEADER, type GrammarShim, startGrammarShim } from "./grammar_shim.ts";
export { type Stack, type StackOptions, startStack } from "./stack.ts";
export { markerTokens, type ReasoningModel, thinkThenAnswer, withGrammar } from "./grammars.ts";
