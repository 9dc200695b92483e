// Shared by the pages: the annotator's token and authorised calls to the API.
// The token arrives in the URL fragment (#token=...), which browsers never send to a server;
// it is kept in sessionStorage and wiped from the address bar.

const KEY = 'd2po-token';

export function token() {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, m[1]);
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem(KEY);
}

/** fetch with the token, a timeout, and the JSON body (null for 204); throws with the server's reason. */
export async function api(path, { method = 'GET', body, keepalive = false, timeoutMs = 15000 } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.error ?? `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

/** Sets an element's text (never its HTML: everything shown may come from a model). */
export function setText(id, text) {
  document.getElementById(id).textContent = text;
}
