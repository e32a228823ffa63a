package io.github.openaiproxy.integration.support;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * OpenAI's OpenAPI 3.1 specification (the copy kept in the repository, {@code spec/openai-openapi/openapi.yaml})
 * as JSON Schema 2020-12, for validating what the proxy sends and what test stubs answer against
 * {@code #/components/schemas/...}.
 *
 * <p>The document still uses OpenAPI 3.0's {@code nullable: true} in places; 2020-12 would ignore it and
 * reject {@code null} where OpenAI accepts it, so each occurrence is rewritten to its 3.1 meaning (the
 * type, or the subschema, or {@code null}) before the schemas are built.
 */
public final class OpenApiSchemas {
    /** Relative to the repository root (the directory holding {@code mvnw}). */
    static final String SPEC = "spec/openai-openapi/openapi.yaml";

    private static final String BASE = "https://spec.openai-proxy.invalid/openapi.json";
    private static volatile OpenApiSchemas loaded;

    private final JsonNode spec;
    private final SchemaRegistry registry;
    private final Map<String, Schema> schemas = new ConcurrentHashMap<>();

    private OpenApiSchemas(JsonNode spec) {
        this.spec = spec;
        String json = spec.toString();
        this.registry = SchemaRegistry.withDefaultDialect(
                SpecificationVersion.DRAFT_2020_12, b -> b.schemas(iri -> BASE.equals(iri) ? json : null));
    }

    /** The specification, loaded once per JVM. */
    public static OpenApiSchemas get() {
        OpenApiSchemas s = loaded;
        if (s == null) {
            synchronized (OpenApiSchemas.class) {
                s = loaded;
                if (s == null) {
                    s = new OpenApiSchemas(read(specPath()));
                    loaded = s;
                }
            }
        }
        return s;
    }

    /**
     * Where the specification is: {@value #SPEC} under the repository root found above the working
     * directory. Tests read nothing outside the repository, so a missing copy fails rather than skips.
     */
    public static Path specPath() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("mvnw"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("no repository root (a directory with mvnw) above "
                    + Path.of("").toAbsolutePath());
        }
        Path spec = dir.resolve(SPEC).normalize();
        if (!Files.isRegularFile(spec)) {
            throw new IllegalStateException("OpenAI's specification is missing: expected " + spec
                    + " (see spec/openai-openapi/SOURCE.md to refresh it)");
        }
        return spec;
    }

    private static JsonNode read(Path path) {
        try {
            JsonNode spec = new YAMLMapper().readTree(path.toFile());
            rewriteNullable(spec);
            return spec;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path, e);
        }
    }

    /** Rewrites OpenAPI 3.0's {@code nullable: true} into JSON Schema 2020-12, in place. */
    static void rewriteNullable(JsonNode node) {
        if (node instanceof ObjectNode object) {
            object.elements().forEachRemaining(OpenApiSchemas::rewriteNullable);
            JsonNode nullable = object.get("nullable");
            if (nullable != null && nullable.isBoolean()) {
                object.remove("nullable");
                if (nullable.booleanValue()) {
                    allowNull(object);
                }
            }
        } else if (node instanceof ArrayNode array) {
            array.elements().forEachRemaining(OpenApiSchemas::rewriteNullable);
        }
    }

    private static void allowNull(ObjectNode schema) {
        JsonNode type = schema.get("type");
        if (type != null && type.isTextual()) {
            schema.putArray("type").add(type.textValue()).add("null");
            addNullToEnum(schema);
        } else if (type instanceof ArrayNode types) {
            types.add("null");
            addNullToEnum(schema);
        } else {
            // No type of its own ($ref, anyOf, oneOf, ...): "this, or null".
            ObjectNode rest = schema.deepCopy();
            schema.removeAll();
            ArrayNode anyOf = schema.putArray("anyOf");
            anyOf.add(rest);
            anyOf.addObject().put("type", "null");
        }
    }

    private static void addNullToEnum(ObjectNode schema) {
        if (schema.get("enum") instanceof ArrayNode values) {
            boolean hasNull = false;
            for (JsonNode v : values) {
                hasNull |= v.isNull();
            }
            if (!hasNull) {
                values.add(JsonNodeFactory.instance.nullNode());
            }
        }
    }

    /** The validation errors of {@code instance} against {@code #/components/schemas/<name>}; empty when valid. */
    public List<String> validate(String name, JsonNode instance) {
        Schema schema = schemas.computeIfAbsent(name, n -> {
            if (spec.at("/components/schemas/" + n).isMissingNode()) {
                throw new IllegalArgumentException("no schema " + n + " in the specification");
            }
            return registry.getSchema(SchemaLocation.of(BASE + "#/components/schemas/" + n));
        });
        List<String> errors = new ArrayList<>();
        for (Error e : schema.validate(instance)) {
            errors.add(e.toString());
        }
        return errors;
    }

    public List<String> validate(String name, String json) {
        try {
            return validate(name, new ObjectMapper().readTree(json));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The property names a schema declares at its top level, through {@code $ref} and {@code allOf}.
     * The request schemas allow additional properties, so this is how a test notices a field that
     * OpenAI does not know (such as a proxy-only {@code action}) being sent upstream.
     */
    public Set<String> declaredProperties(String name) {
        Set<String> names = new TreeSet<>();
        collectProperties(spec.at("/components/schemas/" + name), names);
        return names;
    }

    private void collectProperties(JsonNode schema, Set<String> names) {
        JsonNode ref = schema.get("$ref");
        if (ref != null) {
            collectProperties(spec.at(ref.textValue().substring(1)), names);
        }
        JsonNode properties = schema.get("properties");
        if (properties != null) {
            Iterator<String> it = properties.fieldNames();
            it.forEachRemaining(names::add);
        }
        JsonNode allOf = schema.get("allOf");
        if (allOf != null) {
            allOf.forEach(s -> collectProperties(s, names));
        }
    }
}
