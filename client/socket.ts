// The browser/Node client of Herald's WebSocket edge (SPEC §4; docs/client.md). It uses
// the standard WebSocket (or the constructor given), never node:* or NATS, so it bundles
// for browsers as it is.

export { createHeraldClient } from "./socket/client.js"
export { backoffCeiling, backoffDelay, type BackoffOptions } from "./socket/backoff.js"
export type { ErrorFrame, ServerFrame } from "./socket/frames.js"
export { refreshDelay, tokenExpiry } from "./socket/token.js"
export type {
  ChannelPosition, ClientProblem, ClientState, CloseInfo, Event, HeraldClient, HeraldClientOptions, RecoveryInfo,
  StateChange, SubscribeOptions, Subscription, SubscriptionHandlers, WebSocketConstructor, WebSocketLike
} from "./socket/types.js"
