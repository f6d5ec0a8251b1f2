// Expect: 100-continue. Node answers "100 Continue" to such a request by itself, before
// the app has seen it, so a client would send a multi-GiB body that a signature or
// permission check then refuses. The S3 listener takes the request without that answer
// (deferContinue on its server); the answer goes out when a handler first reads the body
// (readBody calls allowBody), which every handler does only after authentication and its
// authorisation (loadBucket). A request refused before that gets its final status alone,
// and the client never sends the body.
import type http from 'node:http';

const pending = new WeakMap<http.IncomingMessage, http.ServerResponse>();

/** Makes `server` hand requests that expect 100-continue to the app without answering 100. */
export function deferContinue(server: http.Server): void {
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    pending.set(req, res);
    server.emit('request', req, res);
  });
}

/** The request's body may come now: sends "100 Continue" if the client waits for it. */
export function allowBody(req: http.IncomingMessage): void {
  const res = pending.get(req);
  if (!res) return;
  pending.delete(req);
  if (!res.headersSent && !res.writableEnded) res.writeContinue();
}
