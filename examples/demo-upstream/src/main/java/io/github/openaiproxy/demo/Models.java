package io.github.openaiproxy.demo;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.openaiproxy.demo.Reply.JsonReply;
import java.util.List;

/**
 * {@code GET /v1/models} and {@code GET /v1/models/{id}}: the models the proxy's defaults and examples name,
 * owned by {@value #OWNER} so a listing is plainly the demo's. The generating endpoints accept any model.
 */
final class Models {
    static final String OWNER = "openai-proxy-demo";

    /** A model entry; {@code created} is the real model's release time, for realism. */
    record DemoModel(String id, long created) {
        ObjectNode toJson() {
            ObjectNode m = Json.object();
            m.put("id", id);
            m.put("object", "model");
            m.put("created", created);
            m.put("owned_by", OWNER);
            return m;
        }
    }

    static final List<DemoModel> ALL = List.of(
            new DemoModel("gpt-4o-mini", 1721172741L),
            new DemoModel("gpt-4o", 1715367049L),
            new DemoModel("gpt-3.5-turbo", 1677610602L),
            new DemoModel("dall-e-3", 1698785189L),
            new DemoModel("dall-e-2", 1698798177L),
            new DemoModel("gpt-image-1", 1745517030L),
            new DemoModel("text-embedding-3-small", 1705948997L),
            new DemoModel("text-embedding-3-large", 1705953180L),
            new DemoModel("text-embedding-ada-002", 1671217299L));

    private Models() {}

    static Reply list() {
        ArrayNode data = Json.array();
        ALL.forEach(m -> data.add(m.toJson()));
        ObjectNode root = Json.object();
        root.put("object", "list");
        root.set("data", data);
        return JsonReply.ok(root);
    }

    static Reply retrieve(String id) {
        return ALL.stream()
                .filter(m -> m.id().equals(id))
                .findFirst()
                .<Reply>map(m -> JsonReply.ok(m.toJson()))
                .orElseThrow(() -> ApiError.modelNotFound(id).exception());
    }
}
