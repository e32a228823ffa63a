package io.github.openaiproxy.core.testing;

/**
 * Seeded random cases for the fuzz tests: the first seed is {@code -Dfuzz.seed} (else the clock), the number of
 * cases {@code -Dfuzz.cases} (else the test's own); a failing case names the options that replay it alone.
 */
public final class SeededCases {
    private static final long FIRST_SEED = Long.getLong("fuzz.seed", System.nanoTime());

    private SeededCases() {}

    /** One case, made from its seed. */
    @FunctionalInterface
    public interface Case {
        void run(long seed) throws Exception;
    }

    /** Runs {@code oneCase} for consecutive seeds; {@code what} names the fuzzer in a failure. */
    public static void run(String what, int defaultCases, Case oneCase) {
        int cases = Integer.getInteger("fuzz.cases", defaultCases);
        for (int i = 0; i < cases; i++) {
            long seed = FIRST_SEED + i;
            try {
                oneCase.run(seed);
            } catch (AssertionError | Exception e) {
                throw new AssertionError(what + " case failed; replay with -Dfuzz.seed=" + seed + " -Dfuzz.cases=1", e);
            }
        }
    }
}
