// What a browser's fetch does to a cross-origin call, for the SDK in a web page (dangerouslyAllowBrowser): the
// preflight, the checks on its answer and on the answer itself, and the answer's headers filtered down to those a
// script may read (CORS-safelisted, or listed in Access-Control-Expose-Headers). After the Fetch standard, as
// Chromium applies it: headers a page may not set (User-Agent, Content-Length, ...) are not sent. A refusal is the
// TypeError a browser's fetch raises, which the SDK reports as a connection error.
//
// `ignored` names request headers the check leaves out: the test's own scenario tag, which no page would send.

const FORBIDDEN = new Set([
  'accept-charset', 'accept-encoding', 'access-control-request-headers', 'access-control-request-method',
  'connection', 'content-length', 'cookie', 'cookie2', 'date', 'dnt', 'expect', 'host', 'keep-alive', 'origin',
  'referer', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'via',
]);
const SAFELISTED_CONTENT_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];
const SAFELISTED_RESPONSE = new Set([
  'cache-control', 'content-language', 'content-length', 'content-type', 'expires', 'last-modified', 'pragma',
]);
const SIMPLE_METHODS = new Set(['GET', 'HEAD', 'POST']);

function safelisted(name, value) {
  if (name === 'accept' || name === 'accept-language' || name === 'content-language') return true;
  if (name === 'content-type') {
    return SAFELISTED_CONTENT_TYPES.includes(value.split(';')[0].trim().toLowerCase());
  }
  return false;
}

function list(value) {
  return (value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0);
}

function refuse(why) {
  return new TypeError(`Failed to fetch (CORS: ${why})`);
}

export function browserFetch(origin, { ignored = [] } = {}) {
  return async (url, init = {}) => {
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = {};
    const given = typeof init.headers?.entries === 'function' ? init.headers.entries() : Object.entries(init.headers ?? {});
    for (const [name, value] of given) {
      if (value != null && !FORBIDDEN.has(name.toLowerCase())) headers[name.toLowerCase()] = String(value);
    }
    const unsafe = Object.keys(headers)
      .filter((n) => !ignored.includes(n) && !safelisted(n, headers[n]))
      .sort();
    if (!SIMPLE_METHODS.has(method) || unsafe.length > 0) {
      const preflight = await fetch(url, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': method,
          ...(unsafe.length > 0 ? { 'access-control-request-headers': unsafe.join(',') } : {}),
        },
        signal: init.signal,
      });
      await preflight.arrayBuffer();
      if (preflight.status < 200 || preflight.status > 299) throw refuse(`preflight answered ${preflight.status}`);
      const allowOrigin = preflight.headers.get('access-control-allow-origin');
      if (allowOrigin !== origin && allowOrigin !== '*') throw refuse(`preflight allows origin ${allowOrigin}`);
      const methods = list(preflight.headers.get('access-control-allow-methods'));
      if (!SIMPLE_METHODS.has(method) && !methods.includes(method.toLowerCase()) && !methods.includes('*')) {
        throw refuse(`preflight allows methods ${methods}`);
      }
      const allowed = list(preflight.headers.get('access-control-allow-headers'));
      for (const name of unsafe) {
        const wildcard = allowed.includes('*') && name !== 'authorization';
        if (!allowed.includes(name) && !wildcard) throw refuse(`preflight does not allow header ${name}`);
      }
    }
    const res = await fetch(url, { method, headers: { ...headers, origin }, body: init.body, signal: init.signal });
    const allowOrigin = res.headers.get('access-control-allow-origin');
    if (allowOrigin !== origin && allowOrigin !== '*') {
      await res.arrayBuffer().catch(() => {});
      throw refuse(`answer allows origin ${allowOrigin}`);
    }
    const exposed = list(res.headers.get('access-control-expose-headers'));
    const visible = new Headers();
    for (const [name, value] of res.headers) {
      if (SAFELISTED_RESPONSE.has(name) || exposed.includes(name) || (exposed.includes('*') && name !== 'set-cookie')) {
        visible.append(name, value);
      }
    }
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: visible });
  };
}
