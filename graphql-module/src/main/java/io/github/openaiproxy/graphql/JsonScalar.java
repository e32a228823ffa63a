package io.github.openaiproxy.graphql;

import graphql.GraphQLContext;
import graphql.execution.CoercedVariables;
import graphql.language.ArrayValue;
import graphql.language.BooleanValue;
import graphql.language.EnumValue;
import graphql.language.FloatValue;
import graphql.language.IntValue;
import graphql.language.NullValue;
import graphql.language.ObjectField;
import graphql.language.ObjectValue;
import graphql.language.StringValue;
import graphql.language.Value;
import graphql.language.VariableReference;
import graphql.schema.Coercing;
import graphql.schema.CoercingParseLiteralException;
import graphql.schema.GraphQLScalarType;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code scalar JSON}: any JSON value, as literal or variable; passed on as plain Java maps, lists and values. */
final class JsonScalar {
    private JsonScalar() {}

    static final GraphQLScalarType JSON = GraphQLScalarType.newScalar()
            .name("JSON")
            .description("Any JSON value")
            .coercing(new Coercing<Object, Object>() {
                @Override
                public Object serialize(Object value, GraphQLContext context, Locale locale) {
                    return value;
                }

                @Override
                public Object parseValue(Object input, GraphQLContext context, Locale locale) {
                    return input;
                }

                @Override
                public Object parseLiteral(
                        Value<?> input, CoercedVariables variables, GraphQLContext context, Locale locale) {
                    return literal(input, variables);
                }
            })
            .build();

    private static Object literal(Value<?> v, CoercedVariables variables) {
        if (v instanceof StringValue s) {
            return s.getValue();
        }
        if (v instanceof IntValue i) {
            BigInteger n = i.getValue();
            return n.bitLength() < 63 ? (Object) n.longValue() : n;
        }
        if (v instanceof FloatValue f) {
            BigDecimal d = f.getValue();
            return d;
        }
        if (v instanceof BooleanValue b) {
            return b.isValue();
        }
        if (v instanceof NullValue) {
            return null;
        }
        if (v instanceof EnumValue e) {
            return e.getName();
        }
        if (v instanceof ArrayValue a) {
            List<Object> out = new ArrayList<>();
            a.getValues().forEach(item -> out.add(literal(item, variables)));
            return out;
        }
        if (v instanceof ObjectValue o) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (ObjectField field : o.getObjectFields()) {
                out.put(field.getName(), literal(field.getValue(), variables));
            }
            return out;
        }
        if (v instanceof VariableReference ref) {
            return variables.get(ref.getName());
        }
        throw new CoercingParseLiteralException("not a JSON value: " + v);
    }
}
