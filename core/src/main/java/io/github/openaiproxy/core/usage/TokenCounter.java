package io.github.openaiproxy.core.usage;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import io.github.openaiproxy.core.internal.Internal;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToIntFunction;

/**
 * Counts tokens the way the model's tokenizer does (jtokkit): {@code o200k_base} for the {@code gpt-4o},
 * {@code gpt-4.1}, {@code gpt-4.5}, {@code gpt-5}, {@code o1}/{@code o3}/{@code o4}, {@code gpt-image} and
 * {@code chatgpt-} families and for any model it does not know, {@code cl100k_base} for {@code gpt-4},
 * {@code gpt-3.5} and {@code text-embedding-*}.
 *
 * <p>A request body is counted as OpenAI's cookbook counts chat messages: 3 tokens per message, 1 more per
 * {@code name}, 3 to prime the reply; an image part is a fixed {@value #IMAGE_TOKENS} tokens (a 1024x1024
 * image at {@code detail: high} on {@code gpt-4o}), {@value #LOW_DETAIL_IMAGE_TOKENS} at {@code detail: low};
 * tool and function definitions are counted as their JSON text. It is an estimate for reservations, never
 * the billed number: the upstream's {@code usage} is.
 *
 * <p>{@code o200k_base} is counted by {@link O200kPieces}: jtokkit's count, without its regular expression.
 *
 * <p>The work per body is bounded: the first {@value #EXACT_CHARS} characters of text are counted exactly, the
 * rest is extrapolated at the ratio of tokens to characters counted so far. Special tokens such as
 * {@code <|endoftext|>} in the text are counted as ordinary text, never refused.
 */
@Internal
public final class TokenCounter {
    /** Tokens counted for an image part (gpt-4o, 1024x1024, detail high: 85 + 4 tiles of 170). */
    public static final int IMAGE_TOKENS = 765;
    /** Tokens counted for an image part with {@code detail: low}. */
    public static final int LOW_DETAIL_IMAGE_TOKENS = 85;
    /** Tokens counted per message, and to prime the reply (OpenAI's cookbook). */
    static final int PER_MESSAGE = 3;
    /** Characters of one body counted exactly; the rest is extrapolated (see {@code Budget}). */
    static final int EXACT_CHARS = 256 * 1024;

    /** Texts at least this long are remembered per caller; shorter ones cost less to count than to look up. */
    static final int REMEMBERED_FROM_CHARS = 64;
    /** The characters of text remembered, over all callers (about 8 MB). */
    static final long REMEMBERED_CHARS = 4_000_000;

    private static final TokenCounter STANDARD = new TokenCounter(Encodings.newLazyEncodingRegistry());

    private final EncodingRegistry registry;
    /** The encodings in use, loaded on first use ({@code o200k_base} by {@link O200kPieces}). */
    private final Map<EncodingType, Tokenizer> tokenizers = new ConcurrentHashMap<>();
    /** Whether {@link #loadInBackground} started its thread. */
    private final java.util.concurrent.atomic.AtomicBoolean loadStarted =
            new java.util.concurrent.atomic.AtomicBoolean();
    /**
     * Counts of texts a caller sent before: a chat sends its whole history again on every turn, and counting it
     * again (300 tokens of o200k_base took jtokkit about 50 us, and still take {@link O200kPieces} several) would
     * cost the most where it is worth the least. Kept per caller, never shared between callers, so how fast a count
     * is tells no one what another caller sent. Bounded by characters; evicted on the caller's thread.
     */
    private final Cache<Remembered, Integer> remembered = Caffeine.newBuilder()
            .maximumWeight(REMEMBERED_CHARS)
            .weigher((Remembered k, Integer v) -> k.text().length() + k.caller().length())
            .executor(Runnable::run)
            .build();

    /**
     * A text counted for one caller with one encoding. Its hash is computed once: the cache asks for it again when
     * it counts how often a key is used and when it evicts, and a long text's hash reads every character.
     */
    private static final class Remembered {
        private final String caller;
        private final EncodingType encoding;
        private final String text;
        private final int hash;

        Remembered(String caller, EncodingType encoding, String text) {
            this.caller = caller;
            this.encoding = encoding;
            this.text = text;
            this.hash = (hash(text) * 31 + caller.hashCode()) * 31 + encoding.ordinal();
        }

        String caller() {
            return caller;
        }

        String text() {
            return text;
        }

        /**
         * {@link String#hashCode}'s sum over four interleaved runs of characters: the text is a new string on every
         * request, so its hash is computed on every look-up, and String's own (one multiply after another) takes
         * about three times as long for a long text.
         */
        private static int hash(String t) {
            int n = t.length();
            int h0 = 0;
            int h1 = 0;
            int h2 = 0;
            int h3 = 0;
            int i = 0;
            for (; i + 3 < n; i += 4) {
                h0 = 31 * h0 + t.charAt(i);
                h1 = 31 * h1 + t.charAt(i + 1);
                h2 = 31 * h2 + t.charAt(i + 2);
                h3 = 31 * h3 + t.charAt(i + 3);
            }
            int h = ((h0 * 31 + h1) * 31 + h2) * 31 + h3;
            for (; i < n; i++) {
                h = 31 * h + t.charAt(i);
            }
            return h;
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Remembered r
                    && hash == r.hash
                    && encoding == r.encoding
                    && caller.equals(r.caller)
                    && text.equals(r.text);
        }
    }

    private TokenCounter(EncodingRegistry registry) {
        this.registry = registry;
    }

    /** A counter of its own (tests: its remembered counts start empty). */
    static TokenCounter fresh() {
        return new TokenCounter(Encodings.newLazyEncodingRegistry());
    }

    /** How many texts are remembered, over all callers (tests). */
    long rememberedTexts() {
        remembered.cleanUp();
        return remembered.estimatedSize();
    }

    /** The shared counter (tokenizers are loaded once, lazily). */
    public static TokenCounter standard() {
        return STANDARD;
    }

    /**
     * Loads {@code o200k_base} (the encoding of today's models, and of names it does not know) on a daemon thread
     * of its own, so that the first request a token limit counts does not wait for it: loading its ranks takes
     * a few hundred milliseconds, and seconds on a busy core. Returns at once; a count that comes first loads it
     * itself, and the two share the one load.
     */
    public void loadInBackground() {
        // Every engine built asks; one thread loads (the shared counter: once per JVM), not a thread per engine.
        if (tokenizers.containsKey(EncodingType.O200K_BASE) || !loadStarted.compareAndSet(false, true)) {
            return;
        }
        Thread t = new Thread(
                () -> {
                    try {
                        counter(EncodingType.O200K_BASE);
                    } catch (RuntimeException | LinkageError e) {
                        // The first count loads it again, and fails there if it must.
                        System.getLogger(TokenCounter.class.getName())
                                .log(System.Logger.Level.WARNING, "loading o200k_base failed: {0}", e.toString());
                    }
                },
                "openai-proxy-tokenizer-load");
        t.setDaemon(true);
        t.start();
    }

    /** Whether {@code type}'s tokenizer is loaded (tests). */
    boolean loaded(EncodingType type) {
        return tokenizers.containsKey(type);
    }

    /** The encoding of {@code model}: {@code o200k_base} or {@code cl100k_base} (see the class comment). */
    static EncodingType encodingOf(String model) {
        if (model == null) {
            return EncodingType.O200K_BASE;
        }
        String m = model.length() > 64 ? model.substring(0, 64) : model;
        m = m.toLowerCase(Locale.ROOT);
        if (m.startsWith("ft:")) {
            m = m.substring(3); // a fine-tuned model: ft:gpt-4o-mini-2024-07-18:org::id
        }
        if (m.startsWith("gpt-4o")
                || m.startsWith("gpt-4.1")
                || m.startsWith("gpt-4.5")
                || m.startsWith("gpt-5")
                || m.startsWith("gpt-image")
                || m.startsWith("chatgpt-")
                || m.startsWith("o1")
                || m.startsWith("o3")
                || m.startsWith("o4")) {
            return EncodingType.O200K_BASE;
        }
        if (m.startsWith("gpt-4") || m.startsWith("gpt-3.5") || m.startsWith("text-embedding-")) {
            return EncodingType.CL100K_BASE;
        }
        return EncodingType.O200K_BASE;
    }

    /**
     * The input tokens a request body will use: chat {@code messages}, the Responses API's {@code input} and
     * {@code instructions}, a completion's {@code prompt}, an embedding's {@code input}, an image's {@code
     * prompt}, and {@code tools}/{@code functions} as their JSON text. Never fails: an unexpected shape counts
     * what it can.
     */
    public long inputTokens(String model, JsonNode body) {
        return inputTokens(model, body, null);
    }

    /**
     * As {@link #inputTokens(String, JsonNode)}, remembering the counts of long texts for {@code caller} (an
     * identity: its history comes again with its next turn); {@code null} remembers nothing.
     */
    public long inputTokens(String model, JsonNode body, String caller) {
        if (body == null || !body.isObject()) {
            return 0;
        }
        EncodingType type = encodingOf(model);
        Budget enc = new Budget(counter(type), type, caller == null ? null : remembered, caller);
        long n = 0;
        JsonNode messages = body.get("messages");
        if (messages != null && messages.isArray()) {
            n += messages(enc, messages);
        }
        JsonNode input = body.get("input");
        if (input != null) {
            n += input(enc, input);
        }
        n += text(enc, body.get("instructions"));
        JsonNode prompt = body.get("prompt");
        if (prompt != null) {
            n += prompt.isArray() ? promptArray(enc, prompt) : text(enc, prompt);
        }
        n += json(enc, body.get("tools"));
        n += json(enc, body.get("functions"));
        return n;
    }

    /** The tokens of a piece of text (for example the output relayed so far). */
    public long tokens(String model, String text) {
        if (text == null || text.isEmpty()) {
            return 0;
        }
        return counter(encodingOf(model)).count(text);
    }

    /** The counter of {@code type}'s tokens in a text, without special tokens. */
    private Tokenizer counter(EncodingType type) {
        Tokenizer t = tokenizers.get(type);
        return t != null ? t : tokenizers.computeIfAbsent(type, this::load);
    }

    private Tokenizer load(EncodingType type) {
        return Tokenizer.of(
                type == EncodingType.O200K_BASE
                        ? O200kPieces.counter(registry)
                        : registry.getEncoding(type)::countTokensOrdinary);
    }

    /** One encoding's count, and the counts of the roles that every message names, counted once. */
    private record Tokenizer(ToIntFunction<String> counter, Map<String, Integer> roles) {
        private static final List<String> ROLES =
                List.of("system", "developer", "user", "assistant", "tool", "function");

        static Tokenizer of(ToIntFunction<String> counter) {
            Map<String, Integer> roles = new HashMap<>();
            for (String r : ROLES) {
                roles.put(r, counter.applyAsInt(r));
            }
            return new Tokenizer(counter, Map.copyOf(roles));
        }

        int count(String s) {
            Integer n = s.length() <= 9 ? roles.get(s) : null;
            return n != null ? n : counter.applyAsInt(s);
        }
    }

    private static long messages(Budget enc, JsonNode messages) {
        long n = 0;
        for (JsonNode m : messages) {
            n += PER_MESSAGE + message(enc, m);
        }
        return messages.isEmpty() ? 0 : n + PER_MESSAGE;
    }

    /** One chat message or Responses input item: its role, content, name and tool calls. */
    private static long message(Budget enc, JsonNode m) {
        if (!m.isObject()) {
            return text(enc, m);
        }
        long n = text(enc, m.get("role"));
        JsonNode content = m.get("content");
        if (content != null) {
            n += content.isArray() ? parts(enc, content) : text(enc, content);
        }
        JsonNode name = m.get("name");
        if (name != null && name.isTextual()) {
            n += enc.count(name.asText()) + 1;
        }
        n += text(enc, m.get("refusal"));
        n += text(enc, m.get("tool_call_id"));
        n += json(enc, m.get("tool_calls"));
        n += json(enc, m.get("function_call"));
        // Responses API items: a function call's arguments, a tool's output.
        n += text(enc, m.get("arguments"));
        n += text(enc, m.get("output"));
        return n;
    }

    /** Content parts: text counted, images a fixed estimate, anything else (audio, files) nothing. */
    private static long parts(Budget enc, JsonNode parts) {
        long n = 0;
        for (JsonNode p : parts) {
            if (!p.isObject()) {
                n += text(enc, p);
                continue;
            }
            String type = p.path("type").asText("");
            switch (type) {
                case "text", "input_text", "output_text" -> n += text(enc, p.get("text"));
                case "refusal" -> n += text(enc, p.get("refusal"));
                case "image_url", "input_image" -> n += image(p);
                default -> {
                    // audio and files: the upstream counts them from data the proxy cannot size cheaply
                }
            }
        }
        return n;
    }

    /**
     * Counts text exactly up to {@value #EXACT_CHARS} characters per body (a long run without spaces costs
     * jtokkit about a microsecond a character); the rest is extrapolated at the ratio counted so far, so the
     * work per body is bounded whatever its size.
     */
    private static final class Budget {
        private final Tokenizer encoding;
        private final EncodingType type;
        private final Cache<Remembered, Integer> remembered;
        private final String caller;
        private long left = EXACT_CHARS;
        private long chars;
        private long tokens;

        Budget(Tokenizer encoding, EncodingType type, Cache<Remembered, Integer> remembered, String caller) {
            this.encoding = encoding;
            this.type = type;
            this.remembered = remembered;
            this.caller = caller;
        }

        long count(String s) {
            if (s.length() <= left) {
                return exact(s);
            }
            int cut = (int) left;
            if (cut > 0 && Character.isHighSurrogate(s.charAt(cut - 1))) {
                cut--;
            }
            long n = cut > 0 ? exact(s.substring(0, cut)) : 0;
            left = 0;
            // tokens per character so far; a quarter (English prose is about four characters a token) before any
            double ratio = chars > 0 ? (double) tokens / chars : 0.25;
            return n + (long) Math.ceil((s.length() - cut) * ratio);
        }

        private long exact(String s) {
            int n = remembered != null && s.length() >= REMEMBERED_FROM_CHARS
                    ? remembered.get(new Remembered(caller, type, s), k -> encoding.count(k.text()))
                    : encoding.count(s);
            left -= s.length();
            chars += s.length();
            tokens += n;
            return n;
        }
    }

    private static long image(JsonNode part) {
        JsonNode detail = part.path("image_url").path("detail");
        if (detail.isMissingNode()) {
            detail = part.path("detail");
        }
        return "low".equals(detail.asText()) ? LOW_DETAIL_IMAGE_TOKENS : IMAGE_TOKENS;
    }

    /** A Responses or embeddings {@code input}: text, a list of texts, token arrays, or items. */
    private static long input(Budget enc, JsonNode input) {
        if (!input.isArray()) {
            return text(enc, input);
        }
        long n = 0;
        boolean items = false;
        for (JsonNode e : input) {
            if (e.isObject()) {
                items = true;
                n += PER_MESSAGE + message(enc, e);
            } else if (e.isArray()) {
                n += e.size(); // a tokenized input: its tokens
            } else if (e.isNumber()) {
                n++; // one token of a tokenized input
            } else {
                n += text(enc, e);
            }
        }
        return items ? n + PER_MESSAGE : n;
    }

    private static long promptArray(Budget enc, JsonNode prompt) {
        long n = 0;
        for (JsonNode e : prompt) {
            if (e.isArray()) {
                n += e.size();
            } else if (e.isNumber()) {
                n++;
            } else {
                n += text(enc, e);
            }
        }
        return n;
    }

    private static long text(Budget enc, JsonNode node) {
        if (node == null || !node.isTextual()) {
            return 0;
        }
        String s = node.textValue();
        return s.isEmpty() ? 0 : enc.count(s);
    }

    /** A structure (tool definitions, tool calls) counted as its JSON text: rough, as the upstream's format is not public. */
    private static long json(Budget enc, JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return 0;
        }
        if (node.isTextual()) {
            return text(enc, node);
        }
        return enc.count(node.toString());
    }
}
