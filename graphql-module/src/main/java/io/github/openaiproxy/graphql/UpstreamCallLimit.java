package io.github.openaiproxy.graphql;

import graphql.analysis.QueryTraverser;
import graphql.analysis.QueryVisitorFieldEnvironment;
import graphql.analysis.QueryVisitorStub;
import graphql.execution.AbortExecutionException;
import graphql.execution.ExecutionContext;
import graphql.execution.instrumentation.InstrumentationContext;
import graphql.execution.instrumentation.InstrumentationState;
import graphql.execution.instrumentation.SimplePerformantInstrumentation;
import graphql.execution.instrumentation.parameters.InstrumentationExecuteOperationParameters;
import graphql.language.OperationDefinition;
import graphql.schema.FieldCoordinates;
import graphql.schema.GraphQLFieldsContainer;
import java.util.HashMap;
import java.util.Map;

/**
 * Refuses an operation that would make more billed upstream calls than allowed, before any call is made.
 * The complexity limit counts fields, not cost: {@code a: getAIResponse(...) b: getAIResponse(...)} is a
 * handful of fields but two paid completions.
 *
 * <p>Counted as graphql-java would execute the operation: fragments and inline fragments expanded, every
 * alias counted, {@code @include}/{@code @skip} evaluated with the request's variables (the traversal
 * applies them as execution does). Two selections with the same response key are merged by execution
 * into one call, so they count once.
 */
final class UpstreamCallLimit extends SimplePerformantInstrumentation {
    /** The fields whose data fetchers call the upstream, and how many calls each makes. */
    static final Map<FieldCoordinates, Integer> COSTS = Map.of(
            FieldCoordinates.coordinates("Mutation", "getAIResponse"), 1,
            FieldCoordinates.coordinates("Mutation", "generateImage"), 1,
            FieldCoordinates.coordinates("Subscription", "chatStream"), 1);

    private final int max;

    UpstreamCallLimit(int max) {
        this.max = max;
    }

    @Override
    public InstrumentationContext<graphql.ExecutionResult> beginExecuteOperation(
            InstrumentationExecuteOperationParameters parameters, InstrumentationState state) {
        ExecutionContext context = parameters.getExecutionContext();
        if (context.getOperationDefinition().getOperation() == OperationDefinition.Operation.QUERY) {
            return super.beginExecuteOperation(parameters, state); // no query field calls the upstream
        }
        int calls = count(context);
        if (calls > max) {
            throw new TooManyUpstreamCalls(calls, max);
        }
        return super.beginExecuteOperation(parameters, state);
    }

    private static int count(ExecutionContext context) {
        QueryTraverser traverser = QueryTraverser.newQueryTraverser()
                .schema(context.getGraphQLSchema())
                .document(context.getDocument())
                .operationName(context.getOperationDefinition().getName())
                .coercedVariables(context.getCoercedVariables())
                .build();
        Map<String, Integer> rootCalls = new HashMap<>();
        int[] nested = {0};
        traverser.visitPreOrder(new QueryVisitorStub() {
            @Override
            public void visitField(QueryVisitorFieldEnvironment env) {
                if (env.isTypeNameIntrospectionField()) {
                    return;
                }
                GraphQLFieldsContainer parent = env.getFieldsContainer();
                Integer cost = COSTS.get(FieldCoordinates.coordinates(
                        parent.getName(), env.getFieldDefinition().getName()));
                if (cost == null) {
                    return;
                }
                if (env.getParentEnvironment() == null) {
                    // Root fields share one parent: one call per response key, as execution merges them.
                    rootCalls.putIfAbsent(env.getField().getResultKey(), cost);
                } else {
                    nested[0] += cost;
                }
            }
        });
        int total = nested[0];
        for (int c : rootCalls.values()) {
            total += c;
        }
        return total;
    }

    /** The refusal: a user-input error, as the operation asks for more than this endpoint allows. */
    static final class TooManyUpstreamCalls extends AbortExecutionException {
        private static final long serialVersionUID = 1L;

        TooManyUpstreamCalls(int calls, int max) {
            super("The operation makes " + calls + " upstream calls (getAIResponse, generateImage, chatStream);"
                    + " at most " + max + " per request (graphql.max-upstream-calls)");
        }

        @Override
        public Map<String, Object> getExtensions() {
            return Map.of("code", "BAD_USER_INPUT");
        }
    }
}
