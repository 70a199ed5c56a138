// How the metrics panel's page talks to its host, so one bundle serves both places: inside VS Code through
// acquireVsCodeApi() and window messages; in a browser (the control endpoint's dashboard,
// src/control/dashboard.ts) host messages arrive on a Server-Sent Events stream (./events) and the page's own
// go out as fetch POSTs (./dashboard/message, with the session cookie). The messages are the typed ones of
// ./protocol either way; the page still validates every one it receives.
import type { WebviewMessage } from './protocol';

export interface HostTransport<S> {
  postMessage(message: WebviewMessage): void;
  getState(): S | undefined;
  setState(state: S): void;
  /** Host messages, raw (the caller parses them). */
  onMessage(listener: (data: unknown) => void): void;
}

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare const acquireVsCodeApi: (() => VsCodeApi) | undefined;

export function connectHost<S>(): HostTransport<S> {
  return typeof acquireVsCodeApi === 'function' ? vsCodeTransport<S>(acquireVsCodeApi()) : browserTransport<S>();
}

function vsCodeTransport<S>(api: VsCodeApi): HostTransport<S> {
  return {
    postMessage: (m) => api.postMessage(m),
    getState: () => api.getState() as S | undefined,
    setState: (s) => api.setState(s),
    onMessage: (listener) => window.addEventListener('message', (e: MessageEvent) => listener(e.data)),
  };
}

const STATE_KEY = 'aios.metrics.state';

function browserTransport<S>(): HostTransport<S> {
  const diag = document.documentElement.dataset;
  diag.transport = 'browser';
  diag.stream = 'connecting';
  const listeners: ((data: unknown) => void)[] = [];
  let source: EventSource | undefined;
  /** The stream's id (a reconnect gets a new one): the beacon as the page goes away names it. */
  let streamId: string | undefined;
  // A port-forwarding proxy (code-server's) keeps the stream open upstream after the tab closed: say so.
  window.addEventListener('pagehide', () => {
    if (streamId) navigator.sendBeacon('dashboard/close', streamId);
  });
  // The stream's opening is the `ready` (the host answers every new stream with `init`), and EventSource
  // reconnects by itself after a network drop; a refusal (401 after a restart, 503 when too many are open) ends it.
  const open = (): void => {
    if (source) return;
    source = new EventSource('events');
    source.addEventListener('open', () => (diag.stream = 'open'));
    source.addEventListener('stream', (e: MessageEvent<string>) => (streamId = e.data));
    source.addEventListener('error', () => {
      diag.stream = source?.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting';
      if (diag.stream === 'closed') {
        document.title = 'AIOS Metrics (disconnected)';
        console.warn('AIOS metrics: the dashboard stream was refused; open it again with "AIOS: Open Dashboard in Browser"');
      }
    });
    source.addEventListener('message', (e: MessageEvent<string>) => {
      let data: unknown;
      try {
        data = JSON.parse(e.data);
      } catch {
        data = undefined; // the page's parser rejects and counts it
      }
      for (const l of listeners) l(data);
    });
  };
  return {
    postMessage: (m) => {
      if (m.type === 'ready') return open();
      void fetch('dashboard/message', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(m),
      }).then(
        async (r) => {
          if (!r.ok) console.warn(`AIOS metrics: ${m.type} refused: ${r.status} ${await r.text()}`);
        },
        (e: unknown) => console.warn(`AIOS metrics: ${m.type} failed: ${String(e)}`),
      );
    },
    getState: () => {
      try {
        const text = sessionStorage.getItem(STATE_KEY);
        return text === null ? undefined : (JSON.parse(text) as S);
      } catch {
        return undefined;
      }
    },
    setState: (s) => {
      try {
        sessionStorage.setItem(STATE_KEY, JSON.stringify(s));
      } catch {
        /* storage full or off: the charts start over on reload, nothing else is lost */
      }
    },
    onMessage: (listener) => listeners.push(listener),
  };
}
