/**
 * Conversation state for `previous_response_id`: what the gateway keeps of each response,
 * and how a chain of them becomes the history of the next request.
 *
 * As in the public API, a continuation sees every earlier input and output item, in order,
 * but not the earlier `instructions`: those apply to their own response only.
 */
import { type InputItem, inputItemsOf, type ResponsesRequest } from "./request.ts";
import type { OutputItem, ResponseObject } from "./response.ts";

/** One stored response: the Response and the input items of its own request. */
export interface StoredResponse {
  response: ResponseObject;
  /** This request's input only (a string input as one user message), not its history. */
  inputItems: InputItem[];
}

/** The record to store for `response`, answered to `request`. */
export function storedResponse(
  request: Pick<ResponsesRequest, "input">,
  response: ResponseObject,
): StoredResponse {
  return { response, inputItems: inputItemsOf(request) };
}

/** An output item as the input item a client would send back for it. */
export function outputItemToInput(item: OutputItem): InputItem {
  switch (item.type) {
    case "message":
      return {
        type: "message",
        role: "assistant",
        id: item.id,
        status: item.status,
        content: item.content.map((part) => ({ ...part })),
      };
    case "reasoning":
      return {
        type: "reasoning",
        id: item.id,
        status: item.status,
        summary: item.summary.map((part) => ({ ...part })),
      };
    case "function_call":
      return {
        type: "function_call",
        id: item.id,
        status: item.status,
        call_id: item.call_id,
        name: item.name,
        arguments: item.arguments,
      };
  }
}

/**
 * The history a chain of stored responses (oldest first, as `ResponseStore.chain` returns
 * it) stands for: each response's input items, then its output items.
 */
export function historyFromChain(chain: readonly StoredResponse[]): InputItem[] {
  const items: InputItem[] = [];
  for (const { response, inputItems } of chain) {
    items.push(...inputItems, ...response.output.map(outputItemToInput));
  }
  return items;
}
