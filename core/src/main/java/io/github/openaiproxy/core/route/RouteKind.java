package io.github.openaiproxy.core.route;

/** What a route does with a request. */
public enum RouteKind {
    /** {@code POST /}: chat, or image generation when the body asks for one (see image-action detection). */
    CHAT_OR_IMAGE,
    /** {@code POST /images/generations} and {@code POST /generate-image}: image generation with seed defaults. */
    IMAGE,
    /** An OpenAI-compatible {@code /v1} path relayed unchanged. */
    PASS_THROUGH,
    /** A route added by a module (see {@link CustomRoute}), such as {@code /graphql}. */
    CUSTOM
}
