// The official OpenAI Node SDK against the proxy's /v1 routes, with only its base URL changed.
//
// Run by NodeSdkTest (integration-tests), which starts the proxies and their upstreams and passes their
// addresses as one JSON argument. Every scenario runs here, one after another, in one node process; each
// reports what the SDK saw (values, or the error it raised) as JSON on stdout, and NodeSdkTest asserts on
// that together with what the proxy and the upstream received. A scenario that does not finish within its
// time limit is reported as such, so one hang cannot stall the others.
import OpenAI, { toFile } from 'openai';
import { VERSION } from 'openai/version';
import { browserFetch } from './browser-fetch.mjs';

const config = JSON.parse(process.argv[2]);
const SCENARIO_LIMIT_MS = 10_000;
const results = {};

// The SDK (5.x and later) uploads through the global File, which Node 18 (Debian 12's) lacks; node:buffer's is the
// same class, as the SDK's own error message advises. Node 20 and later have it.
globalThis.File ??= (await import('node:buffer')).File;

/** A client of the main proxy, tagged with its scenario (the proxy's test filter counts requests by it). */
function client(scenario, options = {}) {
  return new OpenAI({
    baseURL: config.proxy,
    apiKey: 'sk-node-placeholder',
    maxRetries: 0,
    timeout: SCENARIO_LIMIT_MS,
    ...options,
    defaultHeaders: { 'x-test-scenario': scenario, ...(options.defaultHeaders ?? {}) },
  });
}

/**
 * A client of the main proxy as the SDK runs in a web page on another origin (dangerouslyAllowBrowser): its calls
 * go through what a browser's fetch does across origins (browser-fetch.mjs).
 */
function browserClient(scenario, options = {}) {
  return client(scenario, {
    dangerouslyAllowBrowser: true,
    fetch: browserFetch(config.pageOrigin, { ignored: ['x-test-scenario'] }),
    ...options,
  });
}

/** A client of the streams proxy, whose upstream holds, breaks or stalls streams on request. */
function streamsClient(scenario, options = {}) {
  return client(scenario, { baseURL: config.streams, ...options });
}

function userMessage(content) {
  return [{ role: 'user', content }];
}

function headersOf(headers) {
  if (!headers) return null;
  if (typeof headers.entries === 'function') return Object.fromEntries(headers.entries());
  return { ...headers };
}

function describeError(e) {
  return {
    class: e?.constructor?.name ?? null,
    isAPIError: e instanceof OpenAI.APIError,
    status: e?.status ?? null,
    code: e?.code ?? null,
    type: e?.type ?? null,
    message: e?.message ?? String(e),
    headers: headersOf(e?.headers),
  };
}

/** Runs fn and returns the error it raised; a call that succeeds is a failed scenario. */
async function expectError(fn) {
  try {
    const value = await fn();
    throw new Error(`expected an error, got ${JSON.stringify(value)?.slice(0, 300)}`);
  } catch (e) {
    if (e instanceof OpenAI.APIError || e instanceof OpenAI.OpenAIError) return describeError(e);
    throw e;
  }
}

async function scenario(name, fn) {
  const started = performance.now();
  let timer;
  try {
    const limit = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`did not finish within ${SCENARIO_LIMIT_MS} ms (a hang)`)),
        SCENARIO_LIMIT_MS,
      );
    });
    const value = await Promise.race([fn(name), limit]);
    results[name] = { ok: true, ms: Math.round(performance.now() - started), value };
  } catch (e) {
    results[name] = {
      ok: false,
      ms: Math.round(performance.now() - started),
      error: { ...describeError(e), stack: e?.stack ?? null },
    };
  } finally {
    clearTimeout(timer);
  }
}

/** What a chat stream delivered, read with for await. */
async function readChatStream(stream) {
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
  }
  return chatStreamSummary(chunks);
}

function chatStreamSummary(chunks) {
  return {
    text: chunks.flatMap((c) => c.choices.map((ch) => ch.delta?.content ?? '')).join(''),
    finishReasons: chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((r) => r != null),
    chunks: chunks.length,
    usage: chunks.filter((c) => c.usage != null).map((c) => c.usage),
    chunksWithUsageMember: chunks.filter((c) => 'usage' in c).length,
    chunksWithoutChoices: chunks.filter((c) => c.choices.length === 0).length,
  };
}

/**
 * Asks the test's control server about the streams proxy's upstream call with this marker: `closed` waits up
 * to `withinMs` for the proxy to close that call's connection; `answer` lets a held call start answering.
 */
async function control(what, marker, withinMs = 5000) {
  const r = await fetch(`${config.control}/${what}?marker=${encodeURIComponent(marker)}&within=${withinMs}`);
  return r.json();
}

// --- plain calls

await scenario('chat', async (name) => {
  const { data, response } = await client(name)
    .chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMessage('chat'),
      temperature: 0.2,
    })
    .withResponse();
  return {
    id: data.id,
    content: data.choices[0].message.content,
    finishReason: data.choices[0].finish_reason,
    totalTokens: data.usage.total_tokens,
    requestId: response.headers.get('x-request-id'),
    dataRequestId: data._request_id ?? null,
    status: response.status,
  };
});

await scenario('chat-metered', async (name) => {
  const { data, response } = await client(name, { apiKey: config.keys.metered })
    .chat.completions.create({ model: 'gpt-4o-mini', messages: userMessage('chat-metered') })
    .withResponse();
  return {
    content: data.choices[0].message.content,
    requestId: response.headers.get('x-request-id'),
    limitTokens: response.headers.get('x-ratelimit-limit-tokens'),
    remainingTokens: response.headers.get('x-ratelimit-remaining-tokens'),
  };
});

await scenario('images', async (name) => {
  const images = await client(name).images.generate({
    model: 'dall-e-3',
    prompt: 'A cute baby sea otter',
    size: '1024x1024',
    n: 1,
  });
  return { created: images.created, url: images.data[0].url, revisedPrompt: images.data[0].revised_prompt };
});

await scenario('models', async (name) => {
  const c = client(name);
  const ids = [];
  for await (const model of c.models.list()) {
    ids.push(model.id);
  }
  const one = await c.models.retrieve('gpt-4o-mini');
  // A compatible server's id: the SDK puts its slash in the path as it is.
  const slashed = await c.models.retrieve('meta-llama/Llama-3.1-8B-Instruct');
  return { ids, retrieved: { id: one.id, ownedBy: one.owned_by }, slashed: slashed.id };
});

await scenario('embeddings', async (name) => {
  const c = client(name);
  // Without encoding_format the SDK asks for base64 and decodes it to floats itself.
  const decoded = await c.embeddings.create({ model: 'text-embedding-3-small', input: 'The food was delicious' });
  const floats = await c.embeddings.create({
    model: 'text-embedding-3-small',
    input: 'The food was delicious',
    encoding_format: 'float',
  });
  return {
    decoded: Array.from(decoded.data[0].embedding),
    floats: floats.data[0].embedding,
    totalTokens: floats.usage.total_tokens,
  };
});

await scenario('files', async (name) => {
  const content = '{"messages":[{"role":"user","content":"files"},{"role":"assistant","content":"Hi"}]}\n';
  const file = await client(name).files.create({
    file: await toFile(Buffer.from(content, 'utf8'), 'train.jsonl'),
    purpose: 'fine-tune',
  });
  return { id: file.id, filename: file.filename, purpose: file.purpose, bytes: file.bytes, sent: content };
});

// An upload over max-body-size and within max-upload-size: it streams through, as a JSON body that large would not.
await scenario('upload-over-body-limit', async (name) => {
  const file = await client(name).files.create({
    file: await toFile(Buffer.alloc(2 * config.maxBodyBytes, 'y'), 'over-body-limit.jsonl'),
    purpose: 'fine-tune',
  });
  return { id: file.id, sentBytes: 2 * config.maxBodyBytes };
});

await scenario('responses', async (name) => {
  const { data, response } = await client(name)
    .responses.create({ model: 'gpt-4o-mini', input: 'responses' })
    .withResponse();
  return {
    id: data.id,
    status: data.status,
    outputText: data.output_text,
    totalTokens: data.usage.total_tokens,
    requestId: response.headers.get('x-request-id'),
  };
});

await scenario('responses-stream', async (name) => {
  const stream = await client(name).responses.create({ model: 'gpt-4o-mini', input: 'responses', stream: true });
  const types = [];
  let text = '';
  let completed = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  return { types, text, completedStatus: completed?.status ?? null, totalTokens: completed?.usage?.total_tokens ?? null };
});

await scenario('files-list-pages', async (name) => {
  const ids = [];
  for await (const f of client(name).files.list({ limit: 1, purpose: 'fine-tune' })) {
    ids.push(f.id);
  }
  return { ids };
});

/** A binary answer as the SDK hands it over: status, the headers that describe it, and its bytes. */
async function binary(response) {
  const bytes = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    contentLength: response.headers.get('content-length'),
    contentDisposition: response.headers.get('content-disposition'),
    requestId: response.headers.get('x-request-id'),
    bytes: bytes.toString('base64'),
  };
}

await scenario('files-content', async (name) => binary(await client(name).files.content('file-abc123')));

await scenario('speech', async (name) =>
  binary(await client(name).audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'speech' })),
);

await scenario('transcription', async (name) => {
  const t = await client(name).audio.transcriptions.create({
    file: await toFile(Buffer.from([0xff, 0xf3, 0, 1, 2, 0x80]), 'speech.mp3'),
    model: 'whisper-1',
  });
  return { text: t.text };
});

// A proxy with named upstreams routes an upload by its model field when it comes before the file. The SDK (5.x and
// later) sends the fields in the order the call names them, so this call names the model first.
await scenario('routed-transcription', async (name) => {
  const t = await client(name, { baseURL: config.routed }).audio.transcriptions.create({
    model: 'whisper-1',
    file: await toFile(Buffer.from([0xff, 0xf3, 0, 1, 2, 0x80]), 'speech.mp3'),
  });
  return { text: t.text };
});

// openai 7.x (which needs Node 22) sends an upload of a stream (fs.createReadStream, an async iterable) as a
// multipart body it writes lazily with fetch: chunked, no Content-Length, its boundary "openai-...", each part's head
// and the file's bytes in separate pieces. These are the bytes and headers it would send, through Node's fetch.
async function streamedMultipart7x(baseURL, path, name, parts) {
  const boundary = `openai-${Math.random().toString(36).slice(2)}`;
  const encode = (text) => new TextEncoder().encode(text);
  async function* pieces() {
    for (const [field, value] of parts) {
      yield encode(`--${boundary}\r\n`);
      if (typeof value === 'string') {
        yield encode(`Content-Disposition: form-data; name="${field}"\r\n\r\n${value}`);
      } else {
        yield encode(
          `Content-Disposition: form-data; name="${field}"; filename="${value.filename}"\r\n` +
            `Content-Type: application/octet-stream\r\n\r\n`,
        );
        for (let at = 0; at < value.bytes.length; at += 16 * 1024) yield value.bytes.subarray(at, at + 16 * 1024);
      }
      yield encode('\r\n');
    }
    yield encode(`--${boundary}--\r\n`);
  }
  const it = pieces();
  const body = new ReadableStream({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
  const response = await fetch(baseURL + path, {
    method: 'POST',
    duplex: 'half',
    body,
    headers: {
      Accept: 'application/json',
      Authorization: 'Bearer sk-node-placeholder',
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
      'User-Agent': 'OpenAI/JS 7.60.0',
      'X-Stainless-Lang': 'js',
      'X-Stainless-Package-Version': '7.60.0',
      'X-Stainless-Retry-Count': '0',
      'X-Stainless-Timeout': '10',
      'x-test-scenario': name,
    },
  });
  return { status: response.status, body: await response.json() };
}

await scenario('upload-streamed-7x', async (name) =>
  streamedMultipart7x(config.proxy, '/files', name, [
    ['file', { filename: 'streamed-7x.jsonl', bytes: Buffer.alloc(2 * config.maxBodyBytes, 's') }],
    ['purpose', 'fine-tune'],
  ]),
);

await scenario('routed-transcription-streamed-7x', async (name) =>
  streamedMultipart7x(config.routed, '/audio/transcriptions', name, [
    ['model', 'whisper-1'],
    ['file', { filename: 'streamed-7x.mp3', bytes: Buffer.from([0xff, 0xf3, 0, 1, 2, 0x80]) }],
  ]),
);

await scenario('transcription-stream', async (name) => {
  const stream = await client(name).audio.transcriptions.create({
    file: await toFile(Buffer.from([0xff, 0xf3, 0, 1, 2, 0x80]), 'speech.mp3'),
    model: 'gpt-4o-transcribe',
    stream: true,
  });
  const events = [];
  for await (const e of stream) events.push(e);
  return { types: events.map((e) => e.type), text: events.at(-1)?.text ?? null };
});

await scenario('image-edit', async (name) => {
  const r = await client(name).images.edit({
    image: await toFile(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1]), 'image.png', { type: 'image/png' }),
    mask: await toFile(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 2]), 'mask.png', { type: 'image/png' }),
    prompt: 'image-edit',
  });
  return { b64: r.data[0].b64_json };
});

await scenario('responses-background', async (name) => {
  const c = client(name);
  const created = await c.responses.create({ model: 'gpt-4o-mini', input: 'background', background: true });
  const retrieved = await c.responses.retrieve('resp_bg', { include: ['file_search_call.results'] });
  const cancelled = await c.responses.cancel('resp_bg');
  const deleted = await c.responses.delete('resp_bg');
  return {
    created: created.status,
    retrieved: retrieved.status,
    cancelled: cancelled.status,
    deleted: deleted ?? null,
  };
});

await scenario('responses-resume-stream', async (name) => {
  // A background response's events again, from after the first one: a GET that answers a stream.
  const stream = await client(name).responses.retrieve('resp_bg', { stream: true, starting_after: 0 });
  const types = [];
  let completed = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.completed') completed = event.response;
  }
  return { types, totalTokens: completed?.usage?.total_tokens ?? null };
});

// --- chat streams

const streamRequest = (content, extra = {}) => ({
  model: 'gpt-4o-mini',
  messages: userMessage(content),
  stream: true,
  ...extra,
});
const withUsage = { stream_options: { include_usage: true } };

await scenario('stream', async (name) =>
  readChatStream(await client(name).chat.completions.create(streamRequest(name))),
);

await scenario('stream-usage', async (name) =>
  readChatStream(await client(name).chat.completions.create(streamRequest(name, withUsage))),
);

await scenario('stream-metered', async (name) =>
  readChatStream(
    await client(name, { apiKey: config.keys.metered }).chat.completions.create(streamRequest(name)),
  ),
);

await scenario('stream-metered-usage', async (name) =>
  readChatStream(
    await client(name, { apiKey: config.keys.metered }).chat.completions.create(streamRequest(name, withUsage)),
  ),
);

await scenario('stream-abort', async (name) => {
  const stream = await streamsClient(name).chat.completions.create(streamRequest('abort'));
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    if (chunks.length === 2) {
      stream.controller.abort();
    }
  }
  return { ...chatStreamSummary(chunks), upstream: await control('closed', 'abort') };
});

await scenario('stream-idle', async (name) => {
  const stream = await streamsClient(name).chat.completions.create(streamRequest('idle'));
  const chunks = [];
  const error = await expectError(async () => {
    for await (const chunk of stream) chunks.push(chunk);
  });
  return { ...chatStreamSummary(chunks), error };
});

await scenario('stream-broken', async (name) => {
  const stream = await streamsClient(name).chat.completions.create(streamRequest('broken'));
  const chunks = [];
  const error = await expectError(async () => {
    for await (const chunk of stream) chunks.push(chunk);
  });
  return { ...chatStreamSummary(chunks), error };
});

await scenario('timeout', async (name) => {
  // The upstream holds its answer; the SDK gives up after 500 ms and drops its connection.
  const error = await expectError(() =>
    streamsClient(name, { timeout: 500 }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMessage('slow'),
    }),
  );
  const beforeAnswer = await control('closed', 'slow', 500);
  await control('answer', 'slow');
  const afterAnswer = await control('closed', 'slow');
  return { error, beforeAnswer, afterAnswer };
});

// --- errors

await scenario('bad-key', async (name) => {
  const wrong = 'opk-' + 'A'.repeat(43);
  return expectError(() =>
    client(name, { apiKey: wrong, maxRetries: 2 }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMessage('bad-key'),
    }),
  );
});

await scenario('unknown-route', async (name) =>
  expectError(() => client(name, { maxRetries: 2 }).batches.list()),
);

await scenario('rate-limit', async (name) => {
  const c = client(name, { apiKey: config.keys.perMinute });
  const first = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: userMessage('rate-limit') });
  const error = await expectError(() =>
    c.chat.completions.create({ model: 'gpt-4o-mini', messages: userMessage('rate-limit') }),
  );
  return { first: first.choices[0].message.content, error };
});

await scenario('rate-limit-retry', async (name) => {
  // One request in flight at a time: a second one while a stream runs gets 429 with Retry-After: 1, and the
  // SDK waits that long before it tries again, by which time the stream is over.
  const c = client(name, { apiKey: config.keys.oneAtATime, maxRetries: 2 });
  const running = await c.chat.completions.create(streamRequest('slow stream'));
  const started = performance.now();
  const second = c.chat.completions.create({ model: 'gpt-4o-mini', messages: userMessage('rate-limit-retry') });
  const first = await readChatStream(running);
  const answer = await second;
  return {
    firstText: first.text,
    secondContent: answer.choices[0].message.content,
    secondMs: Math.round(performance.now() - started),
  };
});

await scenario('idempotent-retry', async (name) => {
  // The upstream fails the first try with a 500; the SDK tries again with the same Idempotency-Key.
  const answer = await client(name, { maxRetries: 1 }).chat.completions.create(
    { model: 'gpt-4o-mini', messages: userMessage(name) },
    { headers: { 'Idempotency-Key': 'idem-node-1' } },
  );
  return { content: answer.choices[0].message.content };
});

await scenario('budget', async (name) =>
  expectError(() =>
    client(name, { apiKey: config.keys.spent, maxRetries: 3 }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMessage('budget'),
    }),
  ),
);

await scenario('too-large', async (name) =>
  expectError(() =>
    client(name, { maxRetries: 2 }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMessage('too-large ' + 'x'.repeat(config.maxBodyBytes)),
    }),
  ),
);

await scenario('too-large-upload', async (name) =>
  expectError(async () =>
    client(name, { maxRetries: 2 }).files.create({
      file: await toFile(Buffer.alloc(config.maxUploadBytes + 1, 'x'), 'big.jsonl'),
      purpose: 'fine-tune',
    }),
  ),
);

await scenario('too-large-upload-big', async (name) =>
  expectError(async () =>
    client(name, { maxRetries: 2 }).files.create({
      file: await toFile(Buffer.alloc(8 * 1024 * 1024, 'x'), 'huge.jsonl'),
      purpose: 'fine-tune',
    }),
  ),
);

// --- the SDK in a web page on another origin

await scenario('browser-chat', async (name) => {
  const { data, response } = await browserClient(name)
    .chat.completions.create({ model: 'gpt-4o-mini', messages: userMessage(name) })
    .withResponse();
  return { content: data.choices[0].message.content, requestId: response.headers.get('x-request-id') };
});

await scenario('browser-stream', async (name) =>
  readChatStream(await browserClient(name).chat.completions.create(streamRequest(name))),
);

// The SDK's stream helper, whose call openai 7.x names in X-Stainless-Helper-Method: one more header the page's
// preflight asks for, set here as 7.x would set it.
await scenario('browser-stream-helper', async (name) => {
  const final = await browserClient(name, { defaultHeaders: { 'X-Stainless-Helper-Method': 'stream' } })
    .chat.completions.stream({ model: 'gpt-4o-mini', messages: userMessage(name) })
    .finalChatCompletion();
  return { content: final.choices[0].message.content, finishReason: final.choices[0].finish_reason };
});

await scenario('browser-budget', async (name) =>
  expectError(() =>
    browserClient(name, { apiKey: config.keys.spent, maxRetries: 3 }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMessage(name),
    }),
  ),
);

process.stdout.write(JSON.stringify({ node: process.version, openai: VERSION, results }) + '\n');
// Whatever a scenario left behind (a hung stream) must not keep the process alive.
process.exit(0);
