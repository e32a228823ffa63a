package io.github.openaiproxy.graphql;

import graphql.execution.AbortExecutionException;
import graphql.execution.instrumentation.InstrumentationContext;
import graphql.execution.instrumentation.InstrumentationState;
import graphql.execution.instrumentation.SimplePerformantInstrumentation;
import graphql.execution.instrumentation.parameters.InstrumentationValidationParameters;
import graphql.language.Definition;
import graphql.language.Document;
import graphql.language.Field;
import graphql.language.FragmentDefinition;
import graphql.language.FragmentSpread;
import graphql.language.InlineFragment;
import graphql.language.OperationDefinition;
import graphql.language.Selection;
import graphql.language.SelectionSet;
import graphql.validation.ValidationError;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Refuses a document before it is validated when validating it would cost too much: the depth and complexity
 * limits only run after validation.
 *
 * <ul>
 *   <li>More selections (fields, fragment spreads, inline fragments), as written, than {@code
 *       graphql.max-complexity}. Validation compares every pair of fields that share a response key, so its cost
 *       grows with the square of the fields (and the complexity limit leaves {@code __typename} out): 9,000 {@code
 *       __typename} in a 100 KB document took seconds of CPU and were answered. Every selection counts one wherever
 *       it is written ({@code __typename}, under {@code @skip}, in any operation or fragment); a fragment's own
 *       selections count once however often it is spread.
 *   <li>Selections nested more than {@value #MAX_NESTING} deep, counting fields, inline fragments and fragment
 *       spreads, fragments followed, in any operation or fragment (spread or not). The parser bounds the nesting of one definition, not a chain of fragments
 *       each spreading the next: validation follows them recursively, and 1,400 of them overflowed its stack.
 * </ul>
 */
final class DocumentLimits extends SimplePerformantInstrumentation {
    /**
     * Deepest nesting of selections, fragments followed: three times the default depth limit and more, for the
     * fragment spreads and inline fragments between fields. Validation's cycle check costs about the fragments
     * times the square of their chains, so a cap of 100 let 500 selections in five chains take 0.3 s of CPU.
     */
    static final int MAX_NESTING = 50;

    private final int maxFields;

    DocumentLimits(int maxFields) {
        this.maxFields = maxFields;
    }

    @Override
    public InstrumentationContext<List<ValidationError>> beginValidation(
            InstrumentationValidationParameters parameters, InstrumentationState state) {
        Document document = parameters.getDocument();
        int fields = 0;
        for (Definition<?> definition : document.getDefinitions()) {
            fields = count(selections(definition), fields);
        }
        new Nesting(document).check();
        return super.beginValidation(parameters, state);
    }

    private static SelectionSet selections(Definition<?> definition) {
        return definition instanceof OperationDefinition op
                ? op.getSelectionSet()
                : definition instanceof FragmentDefinition f ? f.getSelectionSet() : null;
    }

    /**
     * {@code counted} plus the selections of {@code set} (fields, fragment spreads, inline fragments); throws as
     * soon as the total passes the limit. Spreads count too: a fragment may hold nothing else, and validation's
     * cycle check follows every spread (chains of 1,800 spreads and 18 fields took it a second of CPU).
     */
    private int count(SelectionSet set, int counted) {
        if (set == null) {
            return counted;
        }
        int n = counted;
        for (Selection<?> selection : set.getSelections()) {
            if (++n > maxFields) {
                throw new TooComplex("The document has more than " + maxFields
                        + " selections: fields, fragment spreads and inline fragments (graphql.max-complexity)");
            }
            if (selection instanceof Field field) {
                n = count(field.getSelectionSet(), n);
            } else if (selection instanceof InlineFragment inline) {
                n = count(inline.getSelectionSet(), n);
            }
        }
        return n;
    }

    /**
     * How deep the operations nest, fragments followed. Each fragment is measured once (a fragment spread twice
     * at every level would otherwise be followed 2^n times), and the walk stops as soon as it passes the limit, so
     * it never recurses deeper than that itself.
     */
    private static final class Nesting {
        /** Every definition of each name: validation reports a name defined twice, after following each. */
        private final Map<String, List<FragmentDefinition>> fragments = new HashMap<>();
        /** Each measured fragment's height; -1 while it is being measured (a cycle, which validation reports). */
        private final Map<String, Integer> heights = new HashMap<>();

        private final Document document;

        Nesting(Document document) {
            this.document = document;
            for (FragmentDefinition f : document.getDefinitionsOfType(FragmentDefinition.class)) {
                fragments.computeIfAbsent(f.getName(), n -> new ArrayList<>()).add(f);
            }
        }

        void check() {
            for (OperationDefinition op : document.getDefinitionsOfType(OperationDefinition.class)) {
                height(op.getSelectionSet(), 0);
            }
            // Fragments no operation spreads too: validation follows every fragment's spreads to find cycles, and
            // a chain of 400 unused ones took it 5 seconds of CPU (the cost grows with the cube of the chain).
            for (String name : fragments.keySet()) {
                fragment(name, 0);
            }
        }

        /** The height of {@code set} below a selection {@code depth} deep. */
        private int height(SelectionSet set, int depth) {
            if (set == null) {
                return 0;
            }
            int max = 0;
            for (Selection<?> selection : set.getSelections()) {
                int below;
                if (selection instanceof Field field) {
                    below = nested(depth, () -> height(field.getSelectionSet(), depth + 1));
                } else if (selection instanceof InlineFragment inline) {
                    below = nested(depth, () -> height(inline.getSelectionSet(), depth + 1));
                } else if (selection instanceof FragmentSpread spread) {
                    below = nested(depth, () -> fragment(spread.getName(), depth + 1));
                } else {
                    continue;
                }
                max = Math.max(max, below + 1);
                if (depth + max > MAX_NESTING) {
                    throw tooDeep();
                }
            }
            return max;
        }

        private int nested(int depth, java.util.function.IntSupplier below) {
            if (depth + 1 > MAX_NESTING) {
                throw tooDeep();
            }
            return below.getAsInt();
        }

        private int fragment(String name, int depth) {
            Integer known = heights.get(name);
            if (known != null) {
                return Math.max(known, 0);
            }
            List<FragmentDefinition> defined = fragments.get(name);
            if (defined == null) {
                return 0; // validation reports it
            }
            heights.put(name, -1);
            int h = 0;
            for (FragmentDefinition f : defined) {
                h = Math.max(h, height(f.getSelectionSet(), depth));
            }
            heights.put(name, h);
            return h;
        }

        private static TooComplex tooDeep() {
            return new TooComplex("The document nests selections more than " + MAX_NESTING
                    + " deep (fields, inline fragments and fragment spreads, fragments followed)");
        }
    }

    /** The refusal: a cost limit, {@code QUERY_TOO_COMPLEX} as the depth and complexity limits' own. */
    static final class TooComplex extends AbortExecutionException {
        private static final long serialVersionUID = 1L;

        TooComplex(String message) {
            super(message);
        }
    }
}
