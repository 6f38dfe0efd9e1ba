/*
 * A byte-level TCP proxy that lets a test stop time at an exact point of a real exchange: it
 * sees each chunk either way and can hold a connection's answers, so "the server died after
 * doing the work but before its answer left" or "the MCP server died while the model was
 * thinking" happen at that point every run, not after a sleep that may or may not cover it.
 *
 * Being below HTTP, it changes nothing in what the client and server say to each other. When
 * the server side dies, the client side is reset (RST), as a killed peer's kernel does.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface ProxiedConnection {
  readonly client: Socket;
  readonly upstream: Socket;
  /** From now on, keep the server's bytes instead of passing them on. */
  hold(): void;
  /** Pass on what was held and stop holding. */
  release(): void;
  readonly holding: boolean;
}

export interface TcpProxy {
  port: number;
  url: string;
  /** Called with every chunk the client sends, before it is passed on. */
  onClientData: ((chunk: Buffer, connection: ProxiedConnection) => void) | undefined;
  /** Called with every chunk the server sends, before it is passed on (or held). */
  onServerData: ((chunk: Buffer, connection: ProxiedConnection) => void) | undefined;
  close(): Promise<void>;
}

/** Forwards 127.0.0.1:<its port> to 127.0.0.1:`targetPort`, connecting anew for every client connection. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const proxy: TcpProxy = { port: 0, url: '', onClientData: undefined, onServerData: undefined, close: async () => {} };
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    open.add(client).add(upstream);
    let held: Buffer[] | undefined;
    const connection: ProxiedConnection = {
      client,
      upstream,
      hold: () => {
        held ??= [];
      },
      release: () => {
        const chunks = held ?? [];
        held = undefined;
        for (const chunk of chunks) if (!client.destroyed) client.write(chunk);
      },
      get holding() {
        return held !== undefined;
      },
    };
    client.on('data', (chunk: Buffer) => {
      proxy.onClientData?.(chunk, connection);
      if (!upstream.destroyed) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      proxy.onServerData?.(chunk, connection);
      if (held) held.push(chunk);
      else if (!client.destroyed) client.write(chunk);
    });
    // An orderly close passes on as one; a dead server (or one that never answered) is a reset.
    upstream.on('end', () => {
      if (held) client.resetAndDestroy();
      else client.end();
    });
    upstream.on('error', () => client.resetAndDestroy());
    upstream.on('close', () => open.delete(upstream));
    client.on('end', () => upstream.end());
    client.on('error', () => upstream.destroy());
    client.on('close', () => {
      open.delete(client);
      upstream.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as { port: number }).port;
  proxy.url = `http://127.0.0.1:${proxy.port}`;
  proxy.close = () => {
    for (const socket of open) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
