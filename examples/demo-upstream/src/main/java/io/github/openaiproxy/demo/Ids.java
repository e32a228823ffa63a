package io.github.openaiproxy.demo;

import java.util.concurrent.ThreadLocalRandom;

/** Random identifiers in OpenAI's styles, each marked {@code demo} so a reader sees they are canned. */
final class Ids {
    private static final char[] ALPHANUMERIC =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".toCharArray();
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private Ids() {}

    static String chatCompletion() {
        return "chatcmpl-demo-" + random(ALPHANUMERIC, 24);
    }

    static String request() {
        return "req_demo_" + random(HEX, 32);
    }

    static String response() {
        return "resp_demo_" + random(HEX, 40);
    }

    static String message() {
        return "msg_demo_" + random(HEX, 40);
    }

    private static String random(char[] alphabet, int length) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        char[] out = new char[length];
        for (int i = 0; i < length; i++) {
            out[i] = alphabet[random.nextInt(alphabet.length)];
        }
        return new String(out);
    }
}
