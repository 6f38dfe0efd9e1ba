/*
 * What the Memento client and server agree on beyond the MCP specification itself.
 */

/**
 * The `params._meta` key through which the client names the current user on every request.
 * The identity travels outside the tool arguments, so the model never chooses whose memories
 * are read; with `--tokens` the bearer token decides instead and this key must agree with it.
 * (MCP reserves `_meta` keys with an `io.modelcontextprotocol/` prefix; ours are `memento/`.)
 */
export const USER_META_KEY = 'memento/user' as const;

/**
 * The optional tool argument through which generic MCP clients (MCP Inspector, desktop hosts)
 * may name a user. The Memento client removes it from the tool schemas the model sees.
 */
export const USER_ARGUMENT = 'user_id' as const;

/** User ids: what a directory name under the data root may be. */
export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
