package io.github.openaiproxy.graphql;

import graphql.execution.AbortExecutionException;
import graphql.execution.instrumentation.InstrumentationContext;
import graphql.execution.instrumentation.InstrumentationState;
import graphql.execution.instrumentation.SimplePerformantInstrumentation;
import graphql.execution.instrumentation.parameters.InstrumentationValidationParameters;
import graphql.language.Definition;
import graphql.language.Field;
import graphql.language.FragmentDefinition;
import graphql.language.InlineFragment;
import graphql.language.OperationDefinition;
import graphql.language.Selection;
import graphql.language.SelectionSet;
import graphql.validation.ValidationError;
import java.util.List;

/**
 * Refuses a document that holds more fields, as written, than {@code graphql.max-complexity}, before it is
 * validated. Validation compares every pair of fields that share a response key, so its cost grows with the
 * square of the fields, and the complexity limit only runs after it (and leaves {@code __typename} out): 9,000
 * {@code __typename} in a 100 KB document took seconds of CPU and were answered.
 *
 * <p>Every field counts one wherever it is written: {@code __typename}, under {@code @skip}, in any operation or
 * fragment of the document. A fragment counts once however often it is spread (validation looks at it once; the
 * complexity limit counts its spreads).
 */
final class FieldCountLimit extends SimplePerformantInstrumentation {
    private final int max;

    FieldCountLimit(int max) {
        this.max = max;
    }

    @Override
    public InstrumentationContext<List<ValidationError>> beginValidation(
            InstrumentationValidationParameters parameters, InstrumentationState state) {
        int fields = 0;
        for (Definition<?> definition : parameters.getDocument().getDefinitions()) {
            SelectionSet set = definition instanceof OperationDefinition op
                    ? op.getSelectionSet()
                    : definition instanceof FragmentDefinition f ? f.getSelectionSet() : null;
            fields = count(set, fields);
        }
        return super.beginValidation(parameters, state);
    }

    /** {@code counted} plus the fields of {@code set}; throws as soon as the total passes the limit. */
    private int count(SelectionSet set, int counted) {
        if (set == null) {
            return counted;
        }
        int n = counted;
        for (Selection<?> selection : set.getSelections()) {
            if (selection instanceof Field field) {
                if (++n > max) {
                    throw new TooManyFields(max);
                }
                n = count(field.getSelectionSet(), n);
            } else if (selection instanceof InlineFragment inline) {
                n = count(inline.getSelectionSet(), n);
            }
        }
        return n;
    }

    /** The refusal: a cost limit, {@code QUERY_TOO_COMPLEX} as the complexity limit's own. */
    static final class TooManyFields extends AbortExecutionException {
        private static final long serialVersionUID = 1L;

        TooManyFields(int max) {
            super("The document has more than " + max + " fields (graphql.max-complexity)");
        }
    }
}
