package io.github.openaiproxy.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class HeaderMapTest {
    @Test
    void aSharedConstantIsCopiedBeforeAnAddAndNeverChanged() {
        List<String> constant = List.of("nosniff");

        HeaderMap h = new HeaderMap().setShared("X-Content-Type-Options", constant);
        h.add("x-content-type-options", "other");

        assertThat(constant).containsExactly("nosniff");
        assertThat(h.build().allValues("X-Content-Type-Options")).containsExactly("nosniff", "other");
        assertThat(new HeaderMap().setShared("Vary", constant).build().allValues("vary"))
                .containsExactly("nosniff");
    }
}
